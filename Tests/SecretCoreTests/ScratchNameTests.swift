import SecretCore
import Testing

/// Which names are editors' scratch files (held in memory, never stored).
@Suite struct ScratchNameTests {
    @Test(arguments: [".k.swp", ".k.swo", ".tls.pem.swn", ".k.svz", ".k.swpx", "k~", "tls.pem~", "4913", "5036", "#k#", ".#k"])
    func scratchNames(name: String) {
        #expect(ScratchName.matches(name))
    }

    @Test(arguments: ["k", "tls.pem", ".env", "~", "#", "##", ".#", "4914", "123", ".swp", "k.swp", "db.sw1", "v2~x"])
    func secretNames(name: String) {
        #expect(!ScratchName.matches(name))
    }
}
