# Cap'n Proto schemas for the peer benchmarks.
@0xbf5147cbbecf40c1;
$import "/capnp/c++.capnp".namespace("ancient_bench::cp");

struct Words { words @0 :List(Text); }
struct Entry { key @0 :Text; value @1 :Int64; }
struct Dict { entries @0 :List(Entry); }
struct Node { id @0 :Int64; edges @1 :List(UInt32); }
struct Graph { nodes @0 :List(Node); }
