// Internal: Fatal, for misuse that cannot return a Status.

#ifndef ANCIENT_INTERNAL_FATAL_H_
#define ANCIENT_INTERNAL_FATAL_H_

namespace ancient::internal {

// Writes `message` to stderr and aborts.
[[noreturn]] void Fatal(const char* message);

}  // namespace ancient::internal

#endif  // ANCIENT_INTERNAL_FATAL_H_
