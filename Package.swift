// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "secretfs",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "secretfs", targets: ["secretfs"]),
        .executable(name: "secretfsd", targets: ["secretfsd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // `secretfs apply`/`export` read and write YAML: a maintained parser that reports line and column.
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // C libraries, found through pkg-config; each shim holds only what Swift cannot import.
        .systemLibrary(name: "CFuse3", pkgConfig: "fuse3", providers: [.apt(["libfuse3-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CSQLite3", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // The C library's memory calls Swift cannot import (variadic mremap, new madvise advice).
        .systemLibrary(name: "CLinuxMemory"),
        // io_uring's system calls and FUSE's io_uring protocol (kernel interfaces, no library).
        .systemLibrary(name: "CIOURing"),
        // glibc's posix_spawn extensions that Swift's Glibc module leaves out (closefrom, chdir).
        .systemLibrary(name: "CProcessSpawn"),

        // Thin typed wrappers, one C library each, no secrets knowledge.
        .target(name: "SecureMemory", dependencies: ["CLinuxMemory"]),
        .target(name: "Crypto", dependencies: ["COpenSSL", "SecureMemory"]),
        .target(name: "SQLite", dependencies: ["CSQLite3", "CLinuxMemory"]),
        .target(name: "FUSE", dependencies: ["CFuse3", "CIOURing", "CLinuxMemory"]),
        .target(name: "HTTP", dependencies: ["CCurl", "SecureMemory"]),
        .target(name: "AWS", dependencies: ["HTTP", "Crypto", "SecureMemory"]),
        .target(name: "Vault", dependencies: ["HTTP", "SecureMemory", .product(name: "Logging", package: "swift-log")]),
        .target(name: "Google", dependencies: ["HTTP", "Crypto", "SecureMemory"]),
        .target(name: "Azure", dependencies: ["HTTP", "SecureMemory", .product(name: "Logging", package: "swift-log")]),



        // The domain: no C, no errno, no FUSE.
        .target(name: "SecretCore", dependencies: [
            "SecureMemory",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Adapters that implement the domain's protocols.
        .target(name: "Store", dependencies: [
            "SecretCore", "SQLite",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Managers", dependencies: [
            "SecretCore", "Crypto", "SecureMemory", "HTTP", "AWS", "Vault", "Google", "Azure",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Change hooks: commands and signals run when watched secrets get new versions.
        .target(name: "ChangeHooks", dependencies: [
            "SecretCore", "Crypto", "SecureMemory", "CProcessSpawn",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "SecretFSMount", dependencies: [
            "SecretCore", "SecretFSKit", "FUSE", "SecureMemory", "ChangeHooks",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "SecretFSKit", dependencies: [
            "SecretCore", "Store", "Managers", "Crypto", "SecureMemory",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // The declarative configuration file of `secretfs apply` and `secretfs export` (YAML, by structure, with line numbers).
        .target(name: "ConfigurationFile", dependencies: [
            "SecretCore",
            .product(name: "Yams", package: "Yams"),
        ]),

        // Executables: parse arguments, call one library entry point.
        .executableTarget(name: "secretfs", dependencies: [
            "SecretCore", "SecretFSKit", "SecureMemory", "ConfigurationFile",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "secretfsd", dependencies: [
            "SecretCore", "SecretFSKit", "SecretFSMount", "SecureMemory", "ChangeHooks",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .target(name: "TestSupport", path: "Tests/TestSupport"),
        // Benchmark helper for scripts/bench (W7): in-process AES-256-GCM throughput.
        .executableTarget(name: "secretfs-crypto-bench", dependencies: ["Crypto", "SecureMemory"]),

        .testTarget(name: "CryptoTests", dependencies: ["Crypto", "SecureMemory"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "SQLite", "SecretCore", "SecureMemory", "TestSupport"]),
        .testTarget(name: "SecretCoreTests", dependencies: ["SecretCore", "SecretFSKit", "Managers", "Store", "SQLite", "SecureMemory", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "SQLite"]),
        .testTarget(name: "MountTests", dependencies: ["TestSupport", "SQLite", "SecretFSMount"]),
        .testTarget(name: "ReferenceManagerTests", dependencies: ["TestSupport", "SQLite"]),
        .testTarget(name: "AWSTests", dependencies: ["AWS", "HTTP", "Crypto", "SecureMemory", "TestSupport", "SQLite"]),
        .testTarget(name: "GoogleTests", dependencies: ["Google", "HTTP", "Crypto", "SecureMemory", "TestSupport", "SQLite"]),
        .testTarget(name: "AzureTests", dependencies: ["Azure", "HTTP", "SecureMemory"]),
        .testTarget(name: "ChangeHooksTests", dependencies: ["ChangeHooks", "SecretCore"]),
        .testTarget(name: "RotationTests", dependencies: ["TestSupport", "SQLite"]),
        .testTarget(name: "ConfigurationTests", dependencies: ["ConfigurationFile", "SecretCore", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)

// Fuzz targets only when asked (scripts/fuzz sets SECRETFS_FUZZ=1), so the normal build and
// `swift test` never see them; the entry point is SecretFSFuzz_main (see Fuzz.swift).
if Context.environment["SECRETFS_FUZZ"] == "1" {
    package.products.append(.executable(name: "secretfs-fuzz", targets: ["SecretFSFuzz"]))
    package.targets.append(.executableTarget(
        name: "SecretFSFuzz",
        dependencies: ["AWS", "Azure", "ChangeHooks", "HTTP", "Managers", "SecretCore", "SecretFSKit", "SecureMemory", "Store", "Vault", "Google"],
        path: "Fuzz/SecretFSFuzz",
        swiftSettings: [.unsafeFlags(["-parse-as-library"])]
    ))
}
