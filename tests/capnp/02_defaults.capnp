# Explicit defaults on every kind of field (stored XOR default).
@0xc6a1e2f3a4b5c602;
struct Point { x @0 :Int32 = 3; y @1 :Int32 = -4; }
struct Root {
  b @0 :Bool = true;
  i8 @1 :Int8 = -7;
  i16 @2 :Int16 = 1000;
  i32 @3 :Int32 = 42;
  i64 @4 :Int64 = -123456789012;
  u8 @5 :UInt8 = 200;
  u16 @6 :UInt16 = 60000;
  u32 @7 :UInt32 = 3000000000;
  u64 @8 :UInt64 = 12345678901234567890;
  f32 @9 :Float32 = 1.25;
  f64 @10 :Float64 = 1.5;
  t @11 :Text = "default text";
  d @12 :Data = 0x"cafe";
  p @13 :Point = (x = 10, y = 20);
  l @14 :List(Int16) = [1, 2, 3];
  e @15 :Color = blue;
  enum Color { red @0; green @1; blue @2; }
}
