import Foundation
import TestSupport
import Testing

/// Bytes in = bytes out: random byte strings round trip bit-exact through a real OpenBao, by the
/// mount and by the CLI, with KV version 1 and 2.
@Suite struct VaultRoundTripPropertyTests {
    /// A small seeded generator (SplitMix64), so a failing case can be replayed from its seed.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
    }

    /// Values of every length class up to 64 KiB: random bytes, text with NUL and `<`, text
    /// broken by one invalid sequence (a surrogate, an overlong form, a byte past U+10FFFF).
    static func samples(seed: UInt64, count: Int) -> [[UInt8]] {
        var random = SeededGenerator(state: seed)
        let broken: [[UInt8]] = [[0xed, 0xa0, 0x80], [0xe0, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc0, 0xaf], [0xff]]
        var out: [[UInt8]] = [[], [0], [UInt8(ascii: "<")], Array(repeating: 0, count: 65_536), Array(repeating: UInt8(ascii: "<"), count: 65_536)]
        while out.count < count {
            let length = min(65_536, Int(pow(2, Double.random(in: 0...16, using: &random))))
            switch out.count % 3 {
            case 0:
                out.append((0..<length).map { _ in UInt8.random(in: 0...255, using: &random) })
            case 1:
                let alphabet = Array("a<>&\"\\\u{0}\n\té€😀 ".unicodeScalars.map(String.init))
                var text = ""
                while text.utf8.count < length { text += alphabet.randomElement(using: &random)! }
                out.append(Array(text.utf8))
            default:
                var text = Array(String(repeating: "value<", count: max(1, length / 6)).utf8)
                text.insert(contentsOf: broken.randomElement(using: &random)!, at: Int.random(in: 0...text.count, using: &random))
                out.append(text)
            }
        }
        return out
    }

    @Test(arguments: [2, 1])
    func randomBytesRoundTripThroughTheMountAndTheCLI(kvVersion: Int) throws {
        let vault = try OpenBaoServer()
        let engine = kvVersion == 2 ? "secret" : "kv"
        let fs = try vaultState(vault, ["--engine", engine, "--kv-version", String(kvVersion), "--cache-ttl", "0"])
        let seed = UInt64.random(in: 0...UInt64.max)
        let values = Self.samples(seed: seed, count: 24)
        try fs.mount()
        // The empty value goes through the CLI only: a file created empty commits at its last
        // release, which the kernel sends after close returns, so an open right after can race it.
        for (index, value) in values.enumerated() where !value.isEmpty {
            let path = fs.path("payments/prod/m\(index)")
            #expect(POSIX.write(path, value) == nil, "seed \(seed) sample \(index)")
            #expect(POSIX.read(path) == .success(value), "seed \(seed) sample \(index) (\(value.count) bytes) through the mount")
        }
        try fs.stop()
        for (index, value) in values.enumerated() {
            let environment = ["SECRETFS_STATE_DIR": fs.state]
            let set = try runProgram(BuiltProducts.path("secretfs"), ["secret", "set", "payments/prod/c\(index)"], stdin: Data(value), environment: environment)
            #expect(set.status == 0, "seed \(seed) sample \(index): \(set.stderr)")
            let get = try runProgram(BuiltProducts.path("secretfs"), ["secret", "get", "payments/prod/c\(index)"], environment: environment)
            #expect(get.stdout == Data(value), "seed \(seed) sample \(index) (\(value.count) bytes) through the CLI")
            // What the mount wrote reads back the same through the CLI too.
            guard !value.isEmpty else { continue }
            let mounted = try runProgram(BuiltProducts.path("secretfs"), ["secret", "get", "payments/prod/m\(index)"], environment: environment)
            #expect(mounted.stdout == Data(value), "seed \(seed) sample \(index): mount-written value through the CLI")
        }
    }
}
