#!/usr/bin/env bash
# Runs the README's examples as a user would: the trie, then the store
# example as two separate processes.
set -euo pipefail
trie=$1
population=$2
"$trie" | grep -q "ten is a word: true"
dir=$(mktemp -d "${TEST_TMPDIR:-/tmp}/population.XXXXXX")/store
"$population" write "$dir" | grep -q "shared"
"$population" read "$dir" Lisbon | grep -qx "Lisbon: 545923"
if "$population" read "$dir" Atlantis 2>/dev/null; then exit 1; fi
echo "examples ok"
