import Foundation
import TestSupport
import Testing

/// Everyday tools on the mount: each case checks the exit status, the content, and how many
/// versions it added (one per real change, none for a change of attributes).
@Suite struct ToolMatrixTests {
    func versions(_ fs: MountedSecretFS, _ secret: String) throws -> Int {
        let rows = try JSONSerialization.jsonObject(with: try fs.cli("secret", "history", secret, "--json").stdout) as? [[String: Any]]
        return rows?.count ?? 0
    }

    func sh(_ script: String, _ arguments: String...) throws -> ProgramResult {
        try runProgram("/bin/sh", ["-c", script] + arguments)
    }

    @Test func eachToolAddsExactlyOneVersionPerChange() throws {
        let fs = try MountedSecretFS()
        try fs.scope("web", "prod")
        try fs.mount()
        let k = fs.path("web/prod/k")
        let cases: [(tool: String, script: String, expected: String)] = [
            ("shell >", "printf 'one\\n' > \"$0\"", "one\n"),
            ("shell >>", "printf 'two\\n' >> \"$0\"", "one\ntwo\n"),
            ("tee", "printf 'three\\n' | tee \"$0\" > /dev/null", "three\n"),
            ("tee -a", "printf 'four\\n' | tee -a \"$0\" > /dev/null", "three\nfour\n"),
            ("dd", "printf 'five\\n' | dd of=\"$0\" status=none", "five\n"),
            ("dd conv=notrunc", "printf 'FI' | dd of=\"$0\" conv=notrunc status=none", "FIve\n"),
            ("sed -i", "sed -i 's/FI/fi/' \"$0\"", "five\n"),
            ("perl -pi", "perl -pi -e 's/five/six/' \"$0\"", "six\n"),
            ("python atomic replace", "python3 -c 'import os, sys; t = sys.argv[1] + \".tmp\"; open(t, \"w\").write(\"seven\\n\"); os.replace(t, sys.argv[1])' \"$0\"", "seven\n"),
        ]
        for (index, (tool, script, expected)) in cases.enumerated() {
            let run = try sh(script, k)
            #expect(run.status == 0, "\(tool): \(run.stderr)")
            #expect(POSIX.read(k) == .success(Array(expected.utf8)), "\(tool)")
            #expect(try versions(fs, "web/prod/k") == index + 1, "\(tool) did not add exactly one version")
        }
        // touch -d changes the time and adds no version.
        #expect(try sh("touch -d '2021-02-03 04:05:06 UTC' \"$0\"", k).status == 0)
        var status = stat()
        #expect(stat(k, &status) == 0 && status.st_mtim.tv_sec == 1_612_325_106)
        #expect(try versions(fs, "web/prod/k") == cases.count)
        // mv of a new file in, and mv over an existing secret: one version each, history kept.
        let outside = fs.directory.file("outside")
        try Data("moved in\n".utf8).write(to: URL(fileURLWithPath: outside))
        #expect(try sh("mv \"$0\" \"$1\"", outside, fs.path("web/prod/new")).status == 0)
        #expect(try versions(fs, "web/prod/new") == 1)
        try Data("moved over\n".utf8).write(to: URL(fileURLWithPath: outside))
        #expect(try sh("mv \"$0\" \"$1\"", outside, k).status == 0)
        #expect(POSIX.read(k) == .success(Array("moved over\n".utf8)))
        #expect(try versions(fs, "web/prod/k") == cases.count + 1)
        // cp -r of a directory into an application makes an environment of it.
        let tree = fs.directory.file("staging")
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        try Data("db\n".utf8).write(to: URL(fileURLWithPath: "\(tree)/db.conf"))
        let copied = try sh("cp -r \"$0\" \"$1/\"", tree, fs.path("web"))
        #expect(copied.status == 0, "\(copied.stderr)")
        #expect(try fs.cli("secret", "get", "web/staging/db.conf").output == "db\n")
        try fs.stop()
    }
}
