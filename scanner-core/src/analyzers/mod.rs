pub mod rpm;
