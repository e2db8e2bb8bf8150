// Builds against @ancient from another workspace, as a user's project would,
// and checks a round trip through the graph layer, a store, the schema
// layer and the replica layer. It includes the headers and depends on the
// targets by the names README has given since before the layers had
// folders of their own (store/replica.h, ancient/schema_graph.h, Schema
// through ancient.h): they must keep compiling.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "ancient/ancient.h"
#include "ancient/schema_graph.h"
#include "store/replica.h"
#include "store/store.h"

int main() {
  std::map<std::string, int> m = {{"one", 1}, {"two", 2}};
  auto a = ancient::Mark(m);
  const int* two = a.Follow().get("two");
  if (two == nullptr || *two != 2 || a.Follow().contains("three")) {
    std::fprintf(stderr, "consumer: wrong result from @ancient//ancient\n");
    return 1;
  }

  char dir[] = "/tmp/ancient-consumer.XXXXXX";
  if (mkdtemp(dir) == nullptr) return 1;
  auto store = ancient::Store::Open(std::string(dir) + "/store");
  if (!store.ok()) {
    std::fprintf(stderr, "consumer: %s\n", store.status().ToString().c_str());
    return 1;
  }
  if (!(*store)->Share("m", m).ok()) return 1;
  auto root = (*store)->Get<std::map<std::string, int>>("m");
  if (!root.ok() || *(*root)->get("one") != 1) {
    std::fprintf(stderr, "consumer: wrong result from @ancient//store\n");
    return 1;
  }
  // The schema layer: the root's recorded type, parsed and checked.
  auto snapshot = (*store)->Read();
  if (!snapshot.ok()) return 1;
  auto description = snapshot->TypeDescription("m");
  if (!description.ok()) return 1;
  auto schema = ancient::Schema::Parse(*description);
  if (!schema.ok() || schema->ToString().find("map") == std::string::npos) {
    std::fprintf(stderr, "consumer: wrong schema from @ancient//ancient\n");
    return 1;
  }
  // The replica layer: publish the store, follow it, read the version.
  const std::string repo = std::string(dir) + "/repo";
  const std::string local = std::string(dir) + "/local";
  auto published = ancient::Publish(**store, repo);
  auto followed = ancient::FollowOnce(repo, local);
  if (!published.ok() || !followed.ok() ||
      followed->version != published->version) {
    std::fprintf(stderr, "consumer: publish/follow failed\n");
    return 1;
  }
  auto replica = ancient::Replica::Open(local);
  if (!replica.ok()) return 1;
  auto copy = (*replica)->Get<std::map<std::string, int>>("m");
  if (!copy.ok() || *(*copy)->get("two") != 2) {
    std::fprintf(stderr, "consumer: wrong result from the replica\n");
    return 1;
  }
  std::printf(
      "consumer: @ancient//ancient, :schema_graph and @ancient//store "
      "(with replicas) work\n");
  std::system((std::string("rm -rf ") + dir).c_str());
  return 0;
}
