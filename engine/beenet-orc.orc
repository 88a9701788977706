# ORC kernels for the vectorisable loops of the beenet front-end.
# Compiled by orcc at build time (see engine/meson.build); orcc also emits
# plain C backup functions, used when ORC cannot JIT for the host CPU.

# out[i] = (float) in[i] * scale   (S16 -> F32, scale = 1/32768)
.function beenet_orc_convert_s16_f32
.dest 4 d1 float
.source 2 s1 int16_t
.floatparam 4 p1
.temp 4 t1
.temp 4 t2

convswl t1, s1
convlf t2, t1
mulf d1, t2, p1

# out[i] = a[i] * b[i]   (analysis window multiply)
.function beenet_orc_mul_f32
.dest 4 d1 float
.source 4 s1 float
.source 4 s2 float

mulf d1, s1, s2

# out[i] = re[i]^2 + im[i]^2 over interleaved {re, im} float pairs
.function beenet_orc_power_c32
.dest 4 d1 float
.source 8 s1
.temp 4 re
.temp 4 im

splitql im, re, s1
mulf re, re, re
mulf im, im, im
addf d1, re, im

# out[i] = (l[i] + r[i]) * p1 over interleaved stereo float frames (p1 = 0.5)
.function beenet_orc_mix_stereo_f32
.dest 4 d1 float
.source 8 s1
.floatparam 4 p1
.temp 4 l
.temp 4 r
.temp 4 t1

splitql r, l, s1
addf t1, l, r
mulf d1, t1, p1

# a1 = -(number of NaN/Inf values in s1): their exponent bits are all ones
# (cmpeql yields -1 per match).  Zero iff every value is finite.
.function beenet_orc_count_nonfinite_f32
.accumulator 4 a1 int
.source 4 s1 float
.const 4 c1 0x7f800000
.temp 4 t1

andl t1, s1, c1
cmpeql t1, t1, c1
accl a1, t1
