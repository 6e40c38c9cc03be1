// swift-tools-version:5.9
// GridPatrolCore: the GridPatrol device core for iOS apps (Swift bindings over the Rust library).
//
// On Apple platforms the native library comes as GridPatrolCoreFFI.xcframework, built by
// build-xcframework.sh, which also generates Sources/GridPatrolCore/GridPatrolCore.swift from it.
// On Linux (the binding tests, scripts/test-swift.sh) it is the host build, libgridpatrol_ffi.so,
// found through -L and LD_LIBRARY_PATH.
import PackageDescription

#if os(Linux)
let nativeLibrary: Target = .systemLibrary(name: "GridPatrolCoreFFI", path: "Sources/GridPatrolCoreFFI")
#else
let nativeLibrary: Target = .binaryTarget(name: "GridPatrolCoreFFI", path: "GridPatrolCoreFFI.xcframework")
#endif

let package = Package(
    name: "GridPatrolCore",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "GridPatrolCore", targets: ["GridPatrolCore"]),
    ],
    targets: [
        nativeLibrary,
        .target(name: "GridPatrolCore", dependencies: ["GridPatrolCoreFFI"], exclude: ["README.md"]),
        .testTarget(name: "GridPatrolCoreTests", dependencies: ["GridPatrolCore"]),
    ]
)
