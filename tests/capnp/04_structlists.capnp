# Lists of structs, nested lists of structs, structs with lists inside lists.
@0xc6a1e2f3a4b5c604;
struct Point { x @0 :Float64; y @1 :Float64; label @2 :Text; }
struct Poly { name @0 :Text; pts @1 :List(Point); closed @2 :Bool; }
struct Root {
  pts @0 :List(Point);
  polys @1 :List(Poly);
  grid @2 :List(List(Point));
  deep @3 :List(List(List(Poly)));
}
