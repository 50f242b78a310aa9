import SecureMemory
import Testing

@Suite struct SecureBytesTests {
    @Test func appendWriteAndResize() {
        let buffer = SecureBytes()
        buffer.append(contentsOf: Array("hello".utf8))
        buffer.append(contentsOf: [UInt8](repeating: 0x41, count: 100))
        #expect(buffer.count == 105)
        Array("J".utf8).withUnsafeBytes { buffer.write($0, at: 0) }
        #expect(buffer.unprotectedArray().prefix(5) == Array("Jello".utf8)[...])
        Array("!".utf8).withUnsafeBytes { buffer.write($0, at: 110) }
        #expect(buffer.count == 111)
        #expect(buffer.unprotectedArray()[105..<110] == [0, 0, 0, 0, 0][...])
        buffer.resize(to: 2)
        #expect(buffer.unprotectedArray() == Array("Je".utf8))
    }

    @Test func takingOverMovesTheBytesAndEmptiesTheSource() {
        // A mapped buffer (1 MiB and more) and a malloc'd one, each handed on whole.
        for size in [100, 2 * 1024 * 1024 + 3] {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let source = SecureBytes(copying: bytes)
            let destination = SecureBytes(copying: Array("old".utf8))
            destination.take(from: source)
            #expect(destination.unprotectedArray() == bytes)
            #expect(source.isEmpty)
            // Both stay usable: the source grows afresh, the destination keeps growing.
            source.append(contentsOf: Array("new".utf8))
            destination.append(contentsOf: Array("!".utf8))
            #expect(source.unprotectedArray() == Array("new".utf8))
            #expect(destination.count == size + 1 && destination.unprotectedArray().last == UInt8(ascii: "!"))
        }
    }

    @Test func appendCopiesContiguousAndOtherCollections() {
        let buffer = SecureBytes()
        buffer.append(contentsOf: [UInt8](repeating: 1, count: 3))
        buffer.append(contentsOf: (10..<13).map { UInt8($0) }.lazy.map { $0 + 1 })
        Array("ab".utf8).withUnsafeBytes { buffer.append(contentsOf: $0) }
        #expect(buffer.unprotectedArray() == [1, 1, 1, 11, 12, 13] + Array("ab".utf8))
    }

    @Test func shrinkingWipesTheTailInPlace() {
        let buffer = SecureBytes(copying: Array("secret-value".utf8))
        buffer.resize(to: 3)
        // Growing again reuses the allocation: the bytes that were cut must read back as zeros.
        buffer.resize(to: 12)
        #expect(buffer.unprotectedArray() == Array("sec".utf8) + [UInt8](repeating: 0, count: 9))
    }

    @Test func writesPastTheEndFillOnlyTheGapWithZeros() {
        let buffer = SecureBytes(copying: Array("secret-value".utf8))
        buffer.resize(to: 3)
        // Past the end after a shrink: the cut bytes in the gap read back as zeros.
        let head: [UInt8] = Array("sec".utf8) + [0, 0, 0, 0, 0]
        Array("XY".utf8).withUnsafeBytes { buffer.write($0, at: 8) }
        #expect(buffer.unprotectedArray() == head + Array("XY".utf8))
        // Across the end: the old tail is overwritten and the buffer grows by the rest.
        let across: [UInt8] = head + Array("1234".utf8)
        Array("1234".utf8).withUnsafeBytes { buffer.write($0, at: 8) }
        #expect(buffer.unprotectedArray() == across)
        // Growing far past the capacity keeps what was there.
        let large = [UInt8](repeating: 0x7a, count: 3 * 1024 * 1024)
        large.withUnsafeBytes { buffer.write($0, at: 12) }
        #expect(buffer.count == 12 + large.count)
        #expect(Array(buffer.unprotectedArray().prefix(12)) == across)
    }

    @Test func largeBuffersGrowPieceByPieceAndKeepEveryByte() {
        // 64 KiB pieces up to 6 MiB, as a copy into the mount arrives: past the mapping threshold
        // the buffer is moved by the kernel, several times, and must keep every byte.
        let expected = (0..<(6 * 1024 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 12) }
        let buffer = SecureBytes()
        for start in stride(from: 0, to: expected.count, by: 65536) {
            expected.withUnsafeBytes { buffer.write(UnsafeRawBufferPointer(rebasing: $0[start..<start + 65536]), at: start) }
        }
        #expect(buffer.count == expected.count)
        let intact = buffer.unprotectedArray() == expected
        #expect(intact)
        // Shrunk and grown again in place: the cut bytes read back as zeros.
        buffer.resize(to: 3 * 1024 * 1024)
        buffer.resize(to: 5 * 1024 * 1024)
        let regrown = buffer.unprotectedArray()
        let headKept = regrown[..<(3 * 1024 * 1024)].elementsEqual(expected[..<(3 * 1024 * 1024)])
        let tailZero = regrown[(3 * 1024 * 1024)...].allSatisfy { $0 == 0 }
        #expect(headKept && tailZero)
        let copied = buffer.copy().constantTimeEquals(buffer)
        #expect(copied)
    }

    @Test func constantTimeEquality() {
        #expect(SecureBytes(copying: [1, 2, 3]).constantTimeEquals(SecureBytes(copying: [1, 2, 3])))
        #expect(!SecureBytes(copying: [1, 2, 3]).constantTimeEquals(SecureBytes(copying: [1, 2, 4])))
        #expect(!SecureBytes(copying: [1, 2]).constantTimeEquals(SecureBytes(copying: [1, 2, 3])))
    }

    @Test func sliceAndCopyAreIndependent() {
        let buffer = SecureBytes(copying: Array("abcdef".utf8))
        let slice = buffer.slice(1..<4)
        let copy = buffer.copy()
        buffer.removeAll()
        #expect(slice.unprotectedArray() == Array("bcd".utf8))
        #expect(copy.unprotectedArray() == Array("abcdef".utf8))
        #expect(buffer.isEmpty)
    }
}
