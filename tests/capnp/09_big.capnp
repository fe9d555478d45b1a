# Larger values: long text and data, long lists (many segments at size 1..8).
@0xc6a1e2f3a4b5c609;
struct Sample { t @0 :UInt64; v @1 :Float64; ok @2 :Bool; }
struct Root {
  text @0 :Text;
  blob @1 :Data;
  samples @2 :List(Sample);
  words @3 :List(Text);
  floats @4 :List(Float32);
}
