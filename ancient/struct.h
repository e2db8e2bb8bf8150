// ANCIENT_STRUCT(Type, field1, field2, ...): gives a user struct a frozen
// layout, ancient::Frozen<Type> (= ancient::Struct<Type>), a struct whose
// fields have the same names and hold the fields' frozen layouts.
//
// Write it at global namespace scope, after Type's definition; Type may be
// namespace-qualified. List every field that should be kept, in any order
// (the order of the frozen struct, and part of its TypeId). Fields not
// listed are not copied. Recursive types work: a struct may hold pointers
// to, vectors of or maps of itself.
//
//   struct Node { bool word; std::map<char, std::unique_ptr<Node>> next; };
//   ANCIENT_STRUCT(Node, word, next);   // the semicolon is optional
//
// Up to 40 fields.

#ifndef ANCIENT_STRUCT_H_
#define ANCIENT_STRUCT_H_

#include <cstddef>
#include <string_view>
#include <tuple>

#include "ancient/layout.h"

namespace ancient {

// The frozen form of a user struct; ANCIENT_STRUCT defines it.
template <class T>
struct Struct;

// Facts about a user struct; ANCIENT_STRUCT defines them.
template <class T>
struct StructInfo;

namespace internal {

template <class T>
concept AncientStruct = requires {
  StructInfo<T>::kName;
};

// Heads the field list (the macro writes a comma before each field).
struct NoField {};

// One listed field: its member pointers in the heap and frozen structs.
template <class T, class M, class FM>
struct Field {
  M T::*heap;
  FM Struct<T>::*frozen;
  std::string_view name;
};

template <class T, class M, class FM>
constexpr Field<T, M, FM> MakeField(M T::*heap, FM Struct<T>::*frozen,
                                    std::string_view name) {
  return {heap, frozen, name};
}

// The byte offset of a member, from its member pointer.
template <class S, class M>
std::size_t MemberOffset(M S::*member) {
  alignas(S) unsigned char buffer[sizeof(S)];
  const S* s = reinterpret_cast<const S*>(buffer);
  return static_cast<std::size_t>(
      reinterpret_cast<const unsigned char*>(&(s->*member)) - buffer);
}

// The frozen default of struct T (defined in ancient/defaults.h).
template <class T>
const StructDefault* DefaultOf();

}  // namespace internal

template <class T>
struct Layout<T, std::enable_if_t<internal::AncientStruct<T>>> {
  using type = Struct<T>;
  static void Mark(internal::MarkContext& c, const T& src, std::uint64_t off) {
    std::apply(
        [&](const auto&... field) { (MarkField(c, src, off, field), ...); },
        StructInfo<T>::Fields());
  }
  static void Describe(internal::Describer& d) {
    d.Append(StructInfo<T>::kName);
    if (d.mode() == internal::Describer::Mode::kName) return;
    if (!d.EnterStruct(&internal::kTypeTag<T>)) return;
    d.NoteStruct(&internal::DefaultOf<T>);
    d.Append("{");
    d.AppendNumber(sizeof(Struct<T>));
    std::apply([&](const auto&... field) { (DescribeField(d, field), ...); },
               StructInfo<T>::Fields());
    d.Append("}");
    d.LeaveStruct();
  }

 private:
  static void MarkField(internal::MarkContext&, const T&, std::uint64_t,
                        internal::NoField) {}
  static void DescribeField(internal::Describer&, internal::NoField) {}
  template <class M, class FM>
  static void MarkField(internal::MarkContext& c, const T& src,
                        std::uint64_t off, const internal::Field<T, M, FM>& f) {
    Layout<std::remove_cv_t<M>>::Mark(c, src.*(f.heap),
                                      off + internal::MemberOffset(f.frozen));
  }
  template <class M, class FM>
  static void DescribeField(internal::Describer& d,
                            const internal::Field<T, M, FM>& f) {
    d.Append(";");
    d.Append(f.name);
    d.Append("@");
    d.AppendNumber(internal::MemberOffset(f.frozen));
    d.Append(":");
    internal::Describe<M>(d);
  }
};

}  // namespace ancient

#define ANCIENT_INTERNAL_CAT(a, b) ANCIENT_INTERNAL_CAT2(a, b)
#define ANCIENT_INTERNAL_CAT2(a, b) a##b
#define ANCIENT_INTERNAL_COUNT(...)                                            \
  ANCIENT_INTERNAL_COUNT2(__VA_ARGS__, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, \
                          30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18,  \
                          17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, \
                          2, 1)
#define ANCIENT_INTERNAL_COUNT2(                                               \
    _1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16,     \
    _17, _18, _19, _20, _21, _22, _23, _24, _25, _26, _27, _28, _29, _30, _31, \
    _32, _33, _34, _35, _36, _37, _38, _39, _40, n, ...)                       \
  n
#define ANCIENT_INTERNAL_FOR_EACH(m, t, ...)                \
  ANCIENT_INTERNAL_CAT(ANCIENT_INTERNAL_FE_,                \
                       ANCIENT_INTERNAL_COUNT(__VA_ARGS__)) \
  (m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_1(m, t, x) m(t, x)
#define ANCIENT_INTERNAL_FE_2(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_1(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_3(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_2(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_4(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_3(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_5(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_4(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_6(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_5(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_7(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_6(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_8(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_7(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_9(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_8(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_10(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_9(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_11(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_10(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_12(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_11(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_13(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_12(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_14(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_13(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_15(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_14(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_16(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_15(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_17(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_16(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_18(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_17(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_19(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_18(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_20(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_19(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_21(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_20(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_22(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_21(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_23(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_22(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_24(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_23(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_25(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_24(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_26(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_25(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_27(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_26(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_28(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_27(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_29(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_28(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_30(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_29(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_31(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_30(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_32(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_31(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_33(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_32(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_34(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_33(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_35(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_34(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_36(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_35(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_37(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_36(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_38(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_37(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_39(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_38(m, t, __VA_ARGS__)
#define ANCIENT_INTERNAL_FE_40(m, t, x, ...) \
  m(t, x) ANCIENT_INTERNAL_FE_39(m, t, __VA_ARGS__)

#define ANCIENT_INTERNAL_FROZEN_FIELD(Type, f) \
  ::ancient::Frozen<decltype(Type::f)> f;
#define ANCIENT_INTERNAL_FIELD_ENTRY(Type, f) \
  , ::ancient::internal::MakeField(&Type::f, &::ancient::Struct<Type>::f, #f)

#define ANCIENT_STRUCT(Type, ...)                                  \
  template <>                                                      \
  struct ancient::StructInfo<Type> {                               \
    static constexpr std::string_view kName = #Type;               \
    static constexpr auto Fields();                                \
  };                                                               \
  template <>                                                      \
  struct ancient::Struct<Type> {                                   \
    ANCIENT_INTERNAL_FOR_EACH(ANCIENT_INTERNAL_FROZEN_FIELD, Type, \
                              __VA_ARGS__)                         \
  };                                                               \
  constexpr auto ancient::StructInfo<Type>::Fields() {             \
    return std::make_tuple(                                        \
        ::ancient::internal::NoField {} ANCIENT_INTERNAL_FOR_EACH( \
            ANCIENT_INTERNAL_FIELD_ENTRY, Type, __VA_ARGS__));     \
  }

#endif  // ANCIENT_STRUCT_H_
