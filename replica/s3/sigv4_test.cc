// SigV4 checked against the four examples AWS publishes for S3 ("Signature
// Calculations for the Authorization Header: Transferring Payload in a
// Single Chunk"): the same inputs must give the same signatures.

#include "replica/s3/sigv4.h"

#include "gtest/gtest.h"

namespace ancient::s3 {
namespace {

const SigningKey kKey = {"AKIAIOSFODNN7EXAMPLE",
                         "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                         "us-east-1", "s3"};
constexpr char kDate[] = "20130524T000000Z";
constexpr char kHost[] = "examplebucket.s3.amazonaws.com";

TEST(SigV4, GetObjectWithRange) {
  const Signature sig = SignV4({"GET",
                                "/test.txt",
                                {},
                                {{"Host", kHost},
                                 {"Range", "bytes=0-9"},
                                 {"x-amz-content-sha256", kEmptySha256},
                                 {"x-amz-date", kDate}},
                                kEmptySha256},
                               kKey, kDate);
  EXPECT_EQ(sig.canonical_request,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\n"
            "range:bytes=0-9\n"
            "x-amz-content-sha256:"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\n"
            "host;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sig.authorization,
            "AWS4-HMAC-SHA256 "
            "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
            "aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-"
            "date,Signature="
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, PutObjectWithAnEncodedKey) {
  const std::string body = "Welcome to Amazon S3.";
  const std::string hash = Sha256Hex(body);
  EXPECT_EQ(hash,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(UriEncode("/test$file.text", true), "/test%24file.text");
  const Signature sig = SignV4({"PUT",
                                UriEncode("/test$file.text", true),
                                {},
                                {{"Host", kHost},
                                 {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                                 {"x-amz-date", kDate},
                                 {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                                 {"x-amz-content-sha256", hash}},
                                hash},
                               kKey, kDate);
  EXPECT_NE(sig.authorization.find(
                "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-"
                "amz-storage-class,"),
            std::string::npos);
  EXPECT_NE(
      sig.authorization.find(
          "Signature="
          "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
      std::string::npos)
      << sig.authorization;
}

TEST(SigV4, GetBucketLifecycleAValuelessParameter) {
  const Signature sig = SignV4({"GET",
                                "/",
                                {{"lifecycle", ""}},
                                {{"Host", kHost},
                                 {"x-amz-content-sha256", kEmptySha256},
                                 {"x-amz-date", kDate}},
                                kEmptySha256},
                               kKey, kDate);
  EXPECT_NE(sig.canonical_request.find("\n/\nlifecycle=\n"), std::string::npos);
  EXPECT_NE(
      sig.authorization.find(
          "Signature="
          "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
      std::string::npos)
      << sig.authorization;
}

TEST(SigV4, ListObjectsQuerySortedWhateverTheOrderGiven) {
  const Signature sig = SignV4({"GET",
                                "/",
                                {{"prefix", "J"}, {"max-keys", "2"}},
                                {{"Host", kHost},
                                 {"x-amz-content-sha256", kEmptySha256},
                                 {"x-amz-date", kDate}},
                                kEmptySha256},
                               kKey, kDate);
  EXPECT_NE(sig.canonical_request.find("\nmax-keys=2&prefix=J\n"),
            std::string::npos);
  EXPECT_NE(
      sig.authorization.find(
          "Signature="
          "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
      std::string::npos)
      << sig.authorization;
}

TEST(SigV4, UriEncodeKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(UriEncode("a+b x(1)/é~._-", true), "a%2Bb%20x%281%29/%C3%A9~._-");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(CanonicalQuery({{"uploads", ""}}), "uploads=");
  EXPECT_EQ(CanonicalQuery({{"prefix", "a+"}, {"list-type", "2"}}),
            "list-type=2&prefix=a%2B");
}

}  // namespace
}  // namespace ancient::s3
