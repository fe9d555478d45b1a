# Zero-sized structs, void lists and lists of empty structs.
@0xc6a1e2f3a4b5c611;
struct Empty {}
struct Root {
  e @0 :Empty;
  es @1 :List(Empty);
  vs @2 :List(Void);
  nested @3 :List(List(Empty));
  flag @4 :Bool;
}
