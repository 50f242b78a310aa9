import SQLite
import TestSupport

extension MountedSecretFS {
    /// A live mount over `payments/prod/victim` ("victim-value"), whose row now holds another
    /// secret's ciphertext so that it fails to decrypt, and an intact `payments/prod/bystander` ("fine").
    static func mountedWithTamperedVictim() throws -> MountedSecretFS {
        let fs = try MountedSecretFS()
        try fs.scope("payments", "prod")
        try fs.cli("secret", "set", "payments/prod/victim", stdin: "victim-value")
        try fs.cli("secret", "set", "payments/prod/bystander", stdin: "fine")
        try fs.mount()
        try fs.moveCiphertext(of: "bystander", over: "victim")
        return fs
    }

    /// Copies the ciphertext of the secret named `donor` over that of `victim`, as an attacker
    /// with write access to the database would: `victim` then fails to decrypt (its data was moved).
    func moveCiphertext(of donor: String, over victim: String) throws {
        let database = try Database(path: "\(state)/secretfs.db", mode: .readWrite)
        try database.execute("""
            UPDATE secret_versions SET ciphertext = (SELECT ciphertext FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.name = '\(donor)')
            WHERE secret_id = (SELECT id FROM secrets WHERE name = '\(victim)')
            """)
    }
}
