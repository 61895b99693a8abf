import Foundation
import Testing
@testable import LocalProvider
#if canImport(Glibc)
import Glibc
#endif

@Suite("Local provider pieces")
struct UnitTests {
    @Test func environmentFileRoundTripsEscapes() {
        let file = EnvironmentFile(
            values: ["PLAIN": "a=b c", "MULTI": "line1\nline2\r\\end", "EMPTY": ""], secretNames: ["MULTI"])
        #expect(EnvironmentFile(decoding: file.encoded()) == file)
        #expect(String(decoding: file.encoded(), as: UTF8.self).split(separator: "\n").count == 4)
    }

    @Test(arguments: [("PORT", true), ("_x1", true), ("1ABC", false), ("A-B", false), ("", false), ("A B", false), ("É", false)])
    func environmentNames(name: String, valid: Bool) {
        #expect(EnvironmentFile.isValidName(name) == valid)
    }

    @Test func redactorHidesLongValuesOnly() {
        let redactor = Redactor(["topsecret", "abc", "topsecret-longer"])
        #expect(redactor.redact("x topsecret-longer y topsecret abc") == "x [redacted] y [redacted] abc")
    }

    @Test(arguments: [(Int32(0), ChildExitStatus.exited(0)), (Int32(3 << 8), .exited(3)), (Int32(9), .signaled(9)), (Int32(15), .signaled(15))])
    func exitStatusDecoding(raw: Int32, status: ChildExitStatus) {
        #expect(ChildExitStatus(waitStatus: raw) == status)
    }

    @Test(arguments: [(0, 5), (40, 5), (999, 5), (1_000, 25), (4_999, 25), (5_000, 200), (60_000, 200)])
    func healthChecksLookEvery5MillisecondsForASecondThenLessOften(elapsedMilliseconds: Int, intervalMilliseconds: Int) {
        #expect(LocalProvider.healthPollInterval(elapsed: .milliseconds(elapsedMilliseconds)) == .milliseconds(intervalMilliseconds))
    }

    /// A TCP socket bound to a free port of 127.0.0.1, not listening yet: its descriptor, address and port.
    private func boundLoopbackSocket() throws -> (fd: Int32, address: sockaddr_in, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr = in_addr(s_addr: UInt32(0x7f00_0001).bigEndian)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        if !bound { close(fd) }
        try #require(bound)
        return (fd, address, Int(UInt16(bigEndian: address.sin_port)))
    }

    @Test func aPortAcceptsConnectionsOnlyWhileSomethingListens() throws {
        let (listener, _, port) = try boundLoopbackSocket()
        defer { close(listener) }
        // Bound but not listening: connections are refused.
        #expect(!Ports.acceptsConnections(port))
        #expect(listen(listener, 8) == 0)
        #expect(Ports.acceptsConnections(port))
        #expect(!Ports.acceptsConnections(0))
    }

    @Test func aListenerWithAFullBacklogIsAnsweredWithoutWaitingForTheRetry() throws {
        let (listener, listenerAddress, port) = try boundLoopbackSocket()
        defer { close(listener) }
        var address = listenerAddress
        try #require(listen(listener, 0) == 0)
        // Connections nobody accepts fill the backlog; later SYNs are dropped, not refused.
        var pending: [Int32] = []
        defer { for fd in pending { close(fd) } }
        for _ in 0..<4 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            _ = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            pending.append(fd)
        }
        usleep(50_000)
        // A blocking connect would now wait a second or more for the SYN to be retried; the probe gives up after
        // its wait. Measured with a generous bound: this guards against a hang, not a speed.
        let started = ContinuousClock.now
        _ = Ports.acceptsConnections(port, wait: .milliseconds(10))
        #expect(ContinuousClock.now - started < .milliseconds(900))
    }

    @Test func waitingForExitReturnsTheStatusOrNilAtTheTimeout() async throws {
        let quick = try ChildProcess.spawn(["/bin/sh", "-c", "exit 3"], environment: [:], directory: URL(fileURLWithPath: "/"), output: .file(URL(fileURLWithPath: "/dev/null")))
        #expect(await quick.waitForExit(timeout: .seconds(60)) == .exited(3))
        #expect(await quick.exited() == .exited(3))
        let slow = try ChildProcess.spawn(["/bin/sh", "-c", "sleep 60"], environment: [:], directory: URL(fileURLWithPath: "/"), output: .file(URL(fileURLWithPath: "/dev/null")))
        #expect(await slow.waitForExit(timeout: .milliseconds(100)) == nil)
        kill(-slow.pid, SIGKILL)
        #expect(await slow.waitForExit(timeout: .seconds(60)) == .signaled(SIGKILL))
    }

    @Test func reservedPortsAreNotHandedOutTwice() throws {
        let first = UUID()
        let port = try #require(Ports.reserveFree(in: 30000...30001, excluding: [], for: first))
        #expect(Ports.reserve(port, for: first))
        #expect(!Ports.reserve(port, for: UUID()))
        let second = Ports.reserveFree(in: port...port, excluding: [], for: UUID())
        #expect(second == nil)
        Ports.release(for: first)
        #expect(Ports.reserve(port, for: first))
        Ports.release(for: first)
    }
}
