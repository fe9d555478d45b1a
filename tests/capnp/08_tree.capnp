# A recursive structure: nesting depth and far pointers between levels.
@0xc6a1e2f3a4b5c608;
struct Node {
  value @0 :Int32;
  name @1 :Text;
  children @2 :List(Node);
  next @3 :Node;
}
struct Root { root @0 :Node; count @1 :UInt16; }
