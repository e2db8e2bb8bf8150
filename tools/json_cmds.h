// ancientctl dump and load: every root of a store as JSON lines, with its
// type, and back (ancient/schema_graph.h has the JSON form).

#ifndef ANCIENT_TOOLS_JSON_CMDS_H_
#define ANCIENT_TOOLS_JSON_CMDS_H_

#include <string>
#include <vector>

namespace ancientctl {

// dump DIR [PREFIX]
int DumpCommand(const std::vector<std::string>& args);
// load DIR [FILE] [--replace]
int LoadCommand(const std::vector<std::string>& args);
// migrate DIR KEY (--type FILE | --like STORE:KEY)
int MigrateCommand(const std::vector<std::string>& args);

}  // namespace ancientctl

#endif  // ANCIENT_TOOLS_JSON_CMDS_H_
