# Enums as fields, defaults, lists and in structs of lists.
@0xc6a1e2f3a4b5c607;
enum Level { debug @0; info @1; warn @2; error @3; fatal @4; }
struct Entry { level @0 :Level = info; msg @1 :Text; }
struct Root {
  level @0 :Level;
  other @1 :Level = warn;
  levels @2 :List(Level);
  entries @3 :List(Entry);
}
