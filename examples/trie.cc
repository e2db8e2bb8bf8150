// The graph layer in one page: build a trie in the heap, Mark it into one
// block, read it in place, Delete it.
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "ancient/ancient.h"

struct Node {
  bool word = false;
  std::map<char, std::unique_ptr<Node>> next;
};
ANCIENT_STRUCT(Node, word, next);  // at global scope, after the type

int main() {
  Node trie;
  for (std::string w : {"tea", "ten", "to"}) {
    Node* n = &trie;
    for (char c : w) {
      std::unique_ptr<Node>& child = n->next[c];
      if (!child) child = std::make_unique<Node>();
      n = child.get();
    }
    n->word = true;
  }

  ancient::Ancient<Node> a = ancient::Mark(trie);  // one block, off the heap
  const ancient::Frozen<Node>& root = a.Follow();  // read in place

  const ancient::Frozen<Node>* t = &root;
  for (char c : std::string("ten")) {
    const auto* child = t->next.get(c);  // const Ptr<Frozen<Node>>*, or null
    if (child == nullptr) return 1;
    t = child->get();
  }
  const bool found = t->word;
  std::cout << "ten is a word: " << std::boolalpha << found << "; "
            << a.size_bytes() << "-byte block, type "
            << ancient::TypeName<Node>() << "\n";
  a.Delete();  // or let `a` go; pointers into the block die with it
  return found ? 0 : 1;
}
