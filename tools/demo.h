// ancientctl demo: the classic ancient demonstration, done right.

#ifndef ANCIENT_TOOLS_DEMO_H_
#define ANCIENT_TOOLS_DEMO_H_

#include <string>
#include <vector>

namespace ancientctl {

// Builds a trie of `words_path` (or the default list), shares it in a store
// at `dir` (or a temporary directory, removed afterwards), then starts
// `readers` reader processes and reports what each saw.
int Demo(const std::string& dir, const std::string& words_path, int readers);

// One reader process: DIR KEY WORDS START_NS.
int DemoReader(const std::vector<std::string>& args);

}  // namespace ancientctl

#endif  // ANCIENT_TOOLS_DEMO_H_
