// Measures in-process AES-256-GCM throughput through the Crypto module, for scripts/bench (W7).
// Prints one line per operation and size: "seal BYTES MB/s" and "open BYTES MB/s".
import Crypto
import Foundation
import SecureMemory

// As in the daemon: all memory locked once, instead of per buffer.
ProcessHardening.lockAllMemory()
// Arguments: message sizes in bytes, and optionally "--seconds S" per operation (default 2).
var arguments = Array(CommandLine.arguments.dropFirst())
var seconds = 2.0
if let flag = arguments.firstIndex(of: "--seconds"), flag + 1 < arguments.count, let value = Double(arguments[flag + 1]) {
    seconds = value
    arguments.removeSubrange(flag...(flag + 1))
}
let sizes = arguments.compactMap { Int($0) }
let key = try SecureRandom.key()
for size in sizes.isEmpty ? [16384] : sizes {
    let plaintext = SecureBytes(count: size)
    let associatedData = Array("secretfs.bench".utf8)
    var box = try AESGCM.sealCombined(plaintext, key: key, associatedData: associatedData)
    var bytes = 0
    var start = Date()
    while Date().timeIntervalSince(start) < seconds {
        for _ in 0..<64 { box = try AESGCM.sealCombined(plaintext, key: key, associatedData: associatedData) }
        bytes += size * 64
    }
    print("seal \(size) \(String(format: "%.1f", Double(bytes) / Date().timeIntervalSince(start) / 1_000_000)) MB/s")
    bytes = 0
    start = Date()
    while Date().timeIntervalSince(start) < seconds {
        for _ in 0..<64 { _ = try AESGCM.openCombined(box.sealed, nonce: box.nonce, key: key, associatedData: associatedData) }
        bytes += size * 64
    }
    print("open \(size) \(String(format: "%.1f", Double(bytes) / Date().timeIntervalSince(start) / 1_000_000)) MB/s")
}
