fn main() { println!("hi {}", std::process::id()); }
