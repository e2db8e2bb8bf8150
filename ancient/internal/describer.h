// Internal: Describer, which builds the text that TypeId and TypeName are
// computed from (see ancient/type_id.h); each Layout<T>::Describe appends
// its type to it.

#ifndef ANCIENT_INTERNAL_DESCRIBER_H_
#define ANCIENT_INTERNAL_DESCRIBER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ancient {
struct StructDefault;
}  // namespace ancient

namespace ancient::internal {

// Makes (once) the frozen default of a struct type: see ancient/defaults.h.
using StructDefaultFn = const StructDefault* (*)();

// Builds the text from which TypeId and TypeName are computed.
class Describer {
 public:
  // kFull: everything that decides the layout (hashed into TypeId).
  // kName: a short readable name (struct names without their fields).
  enum class Mode { kFull, kName };
  explicit Describer(Mode mode) : mode_(mode) {}

  Mode mode() const { return mode_; }
  void Append(std::string_view s) { out_.append(s); }
  void AppendNumber(std::uint64_t n) { out_.append(std::to_string(n)); }

  // Enters a struct type. Returns false (having written a back reference)
  // when the type is already being described: a recursive type.
  bool EnterStruct(const void* tag) {
    for (std::size_t i = 0; i < stack_.size(); ++i) {
      if (stack_[i] == tag) {
        out_.append("^");
        out_.append(std::to_string(stack_.size() - i));
        return false;
      }
    }
    stack_.push_back(tag);
    return true;
  }
  void LeaveStruct() { stack_.pop_back(); }

  // Notes that a raw or shared pointer can reach type `tag` (kTypeTag).
  void NoteShareable(const void* tag) {
    for (const void* t : shareable_) {
      if (t == tag) return;
    }
    shareable_.push_back(tag);
  }
  const std::vector<const void*>& shareable() const { return shareable_; }

  // Notes a struct type met (kFull), with the function that makes its
  // default (StructDefaultsOf, ancient/defaults.h, collects them).
  void NoteStruct(StructDefaultFn fn) { structs_.push_back(fn); }
  const std::vector<StructDefaultFn>& structs() const { return structs_; }

  const std::string& str() const { return out_; }

 private:
  Mode mode_;
  std::string out_;
  std::vector<const void*> stack_;
  std::vector<const void*> shareable_;
  std::vector<StructDefaultFn> structs_;
};

}  // namespace ancient::internal

#endif  // ANCIENT_INTERNAL_DESCRIBER_H_
