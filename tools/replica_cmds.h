// ancientctl publish, follow and status: versions of a store on many hosts
// (replica/replica.h).

#ifndef ANCIENT_TOOLS_REPLICA_CMDS_H_
#define ANCIENT_TOOLS_REPLICA_CMDS_H_

#include <string>
#include <vector>

namespace ancientctl {

// publish STORE REPO [--keep N] [--grace SECONDS]
int PublishCommand(const std::vector<std::string>& args);
// follow REPO LOCAL [--once] [--interval SECONDS] [--pin VERSION | --unpin]
int FollowCommand(const std::vector<std::string>& args);
// status DIR (a repository or a local directory)
int KeepCommand(const std::vector<std::string>& args);
int StatusCommand(const std::vector<std::string>& args);

}  // namespace ancientctl

#endif  // ANCIENT_TOOLS_REPLICA_CMDS_H_
