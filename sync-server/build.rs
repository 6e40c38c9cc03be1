// The dashboard's built files are embedded (src/http/dashboard.rs): rebuild when they change, or when they
// appear (a path that does not exist would make cargo rerun this on every build, so then watch the folder
// the build creates them in).
fn main() {
    if std::path::Path::new("../dashboard/dist").is_dir() {
        println!("cargo:rerun-if-changed=../dashboard/dist");
    } else {
        println!("cargo:rerun-if-changed=../dashboard");
    }
}
