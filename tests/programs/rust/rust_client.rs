// A Rust client that knows nothing of tracing: three GETs to 127.0.0.1:PORT,
// each on a connection of its own, its request sent with libc's send()
// from a trait method, a const-generic function and a closure, so that
// each span's call site is a Rust function of this program
// (tests/integration/test_demangle.py builds it with legacy and with v0
// symbol mangling). Prints each response's status line.
//   rust_client PORT
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::os::unix::io::AsRawFd;

extern "C" {
    fn send(fd: i32, buf: *const u8, n: usize, flags: i32) -> isize;
}

fn request(path: &str) -> String {
    format!("GET {} HTTP/1.1\r\nHost: rust\r\nConnection: close\r\n\r\n", path)
}

fn answer(s: TcpStream) -> String {
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    status.trim_end().to_string()
}

trait Fetch {
    fn fetch(&mut self, path: &str) -> String;
}

struct Client {
    port: u16,
}

impl Fetch for Client {
    #[inline(never)]
    fn fetch(&mut self, path: &str) -> String {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let q = request(path);
        let n = unsafe { send(s.as_raw_fd(), q.as_ptr(), q.len(), 0) }; // Client::fetch
        assert_eq!(n, q.len() as isize);
        answer(s)
    }
}

#[inline(never)]
fn get<const N: usize>(port: u16) -> String {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let q = request(&format!("/get/{}", N));
    let n = unsafe { send(s.as_raw_fd(), q.as_ptr(), q.len(), 0) }; // get::<N>
    assert_eq!(n, q.len() as isize);
    answer(s)
}

fn main() {
    let port: u16 = std::env::args().nth(1).expect("PORT").parse().unwrap();
    let mut c = Client { port };
    println!("{}", c.fetch("/fetch"));
    println!("{}", get::<2>(port));
    let run = || {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let q = request("/closure");
        let n = unsafe { send(s.as_raw_fd(), q.as_ptr(), q.len(), 0) }; // closure
        assert_eq!(n, q.len() as isize);
        answer(s)
    };
    println!("{}", run());
}
