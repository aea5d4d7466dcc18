//! Tests of the whole compiler: the cases of issue 7, and properties over random policies.

mod cases;
mod properties;
mod scale;
