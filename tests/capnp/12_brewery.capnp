# A realistic sensor type (the brewery of DTS 0.1.9).
@0xc6a1e2f3a4b5c612;
struct Temperature {
  sensor @0 :Text;
  celsius @1 :Float64;
  timeNs @2 :UInt64;
  seq @3 :UInt32;
  ok @4 :Bool = true;
  unit @5 :Unit;
  tags @6 :List(Text);
  history @7 :List(Float32);
  location :group { tank @8 :UInt16; depthCm @9 :Int16; }
  status :union { nominal @10 :Void; warning @11 :Text; fault @12 :UInt32; }
  enum Unit { celsius @0; fahrenheit @1; kelvin @2; }
}
struct Root { reading @0 :Temperature; batch @1 :List(Temperature); }
