import Foundation
import TestSupport
import Testing

/// The example shipped in contrib/ applies on a fresh state, and applying it again changes nothing.
@Suite struct ExampleConfigurationTests {
    let directory = TemporaryDirectory()

    func cli(_ arguments: String...) throws -> ProgramResult {
        try runProgram(BuiltProducts.path("secretfs"), arguments, environment: ["SECRETFS_STATE_DIR": directory.file("state")])
    }

    static var example: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("contrib/secretfs.example.yaml").path
    }

    @Test func theShippedExampleAppliesAndIsThenTheState() throws {
        #expect(try cli("init").status == 0)
        let applied = try cli("apply", "-f", Self.example)
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.output.contains("+ environment web/dev (non-production)\n") && applied.output.contains("+ manager production-keys (builtin)\n"), "\(applied.output)")
        #expect(try cli("apply", "-f", Self.example, "--prune").output == "no changes: the state matches \(Self.example)\n")
        #expect(try cli("env", "list").output.contains("web          dev          non-production"))
        // The export applies to the same state as a no-op too.
        let exported = try cli("export")
        let copy = directory.file("exported.yaml")
        try exported.stdout.write(to: URL(fileURLWithPath: copy))
        #expect(try cli("apply", "-f", copy, "--prune").output == "no changes: the state matches \(copy)\n")
    }
}
