import Foundation
import PreviewModel
import Synchronization
import TaskDeadlines
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a child process ended.
enum ChildExitStatus: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    var succeeded: Bool { self == .exited(0) }

    var description: String {
        switch self {
        case .exited(let code): "exit status \(code)"
        case .signaled(let signal): "killed by signal \(signal)"
        }
    }

    /// Decodes a `waitpid` status word (the `WIFEXITED`/`WEXITSTATUS` macros are not imported into Swift).
    init(waitStatus status: Int32) {
        if status & 0x7f == 0 {
            self = .exited((status >> 8) & 0xff)
        } else {
            self = .signaled(status & 0x7f)
        }
    }
}

/// One line a child wrote, without its line break.
struct OutputLine: Sendable {
    var text: String
    var stream: LogStream
}

/// Why a process could not be started.
struct SpawnError: Error, CustomStringConvertible {
    var operation: String
    var code: Int32

    var description: String { "\(operation) failed: \(String(cString: strerror(code)))" }
}

/// A process started in its own session (so its pid is also its process-group id).
///
/// A dedicated thread reaps it with a blocking `waitpid`, and, when its output goes to pipes, another
/// dedicated thread reads them with `poll`: neither blocks Swift's cooperative pool. When previewd exits,
/// the reaping thread dies with it and the orphaned process is re-parented (and later reaped) by init.
final class ChildProcess: Sendable {
    /// Where standard output and standard error go.
    enum Output {
        /// Two pipes read line by line into ``ChildProcess/lines``.
        case pipes
        /// Appended to a file (both streams), so the process outlives previewd.
        case file(URL)
    }

    /// The process id, equal to its process-group and session id.
    let pid: pid_t
    /// The output lines when started with ``Output/pipes``; finishes when every writer closed the pipes.
    let lines: AsyncStream<OutputLine>?
    /// The exit status once reaped, and the tasks waiting for it (woken by the reaping thread, never polled).
    private let exit: Mutex<(status: ChildExitStatus?, waiters: [UUID: CheckedContinuation<Void, Never>])>

    /// Longest line passed on; longer ones are split so a binary blob cannot exhaust memory.
    static let maxLineBytes = 16 * 1024

    private init(pid: pid_t, lines: AsyncStream<OutputLine>?) {
        self.pid = pid
        self.lines = lines
        exit = Mutex((nil, [:]))
    }

    /// The exit status once the process has ended and been reaped.
    var exitStatus: ChildExitStatus? { exit.withLock { $0.status } }

    /// Waits for the process to end; `nil` when `timeout` passed or the task was cancelled first.
    /// The reaping thread wakes the waiter, so a command's end is noticed at once (a boot runs several).
    func waitForExit(timeout: Duration) async -> ChildExitStatus? {
        if let status = exitStatus { return status }
        return await firstValue(within: timeout) { await self.exited() }
    }

    /// The exit status once the process has been reaped; `nil` when the task is cancelled first.
    func exited() async -> ChildExitStatus? {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let waiting = exit.withLock { state -> Bool in
                    guard state.status == nil, !Task.isCancelled else { return false }
                    state.waiters[id] = continuation
                    return true
                }
                if !waiting { continuation.resume() }
            }
        } onCancel: {
            exit.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
        return exitStatus
    }

    /// Records the status and wakes every waiter; called once, by the reaping thread.
    private func reaped(_ status: ChildExitStatus) {
        let waiters = exit.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.status = status
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// previewd's own nice value, read once.
    static let ownNiceness: Int = {
        errno = 0
        let value = getpriority(PriorityTarget.process, 0)
        return errno == 0 ? Int(value) : 0
    }()

    /// coreutils' `nice`, which lowers its own priority and then executes the command: the only way to have the
    /// command start at that priority, since `posix_spawn` cannot set it and a process cannot raise its own again.
    static let niceExecutable: String? = ["/usr/bin/nice", "/bin/nice"].first { access($0, X_OK) == 0 }

    /// Starts `arguments[0]` (an absolute path) with exactly `environment`, in `directory`, standard input
    /// from `/dev/null`, in a new session, with default signal dispositions and no inherited descriptors.
    ///
    /// - Parameter niceness: added to previewd's own nice value (capped at 19), so the child and everything it starts
    ///   get the CPU only after previewd. The child is started through `nice`, so it runs at that priority from its
    ///   first instruction; the pid is the command's all the same (`nice` executes it in place).
    static func spawn(
        _ arguments: [String], environment: [String: String], directory: URL, output: Output, niceness: Int = 0
    ) throws(SpawnError) -> ChildProcess {
        precondition(!arguments.isEmpty && arguments[0].hasPrefix("/"), "spawn needs an absolute executable path")
        var pipes: (out: [Int32], err: [Int32])? = nil
        if case .pipes = output {
            var out: [Int32] = [-1, -1]
            var err: [Int32] = [-1, -1]
            guard pipe(&out) == 0 else { throw SpawnError(operation: "pipe", code: errno) }
            guard pipe(&err) == 0 else {
                let code = errno
                close(out[0]); close(out[1])
                throw SpawnError(operation: "pipe", code: code)
            }
            // Close-on-exec so concurrently spawned children never hold our pipe ends (which would delay EOF).
            for fd in out + err { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            pipes = (out, err)
        }
        func closePipes() {
            if let pipes { for fd in pipes.out + pipes.err { close(fd) } }
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        var code = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if code == 0 {
            switch output {
            case .pipes:
                code = posix_spawn_file_actions_adddup2(&actions, pipes!.out[1], 1)
                if code == 0 { code = posix_spawn_file_actions_adddup2(&actions, pipes!.err[1], 2) }
            case .file(let url):
                code = posix_spawn_file_actions_addopen(&actions, 1, url.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
                if code == 0 { code = posix_spawn_file_actions_adddup2(&actions, 1, 2) }
            }
        }
        if code == 0 { code = GNUSpawn.addCloseFrom(&actions, 3) }
        if code == 0 { code = GNUSpawn.addChdir(&actions, directory.path) }
        guard code == 0 else {
            closePipes()
            throw SpawnError(operation: "posix_spawn_file_actions", code: code)
        }

        var allSignals = sigset_t()
        sigfillset(&allSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        // previewd ignores SIGPIPE (and may block signals on this thread); ignored dispositions and masks
        // survive exec, so reset them or the app would misbehave.
        code = posix_spawnattr_setsigdefault(&attributes, &allSignals)
        if code == 0 { code = posix_spawnattr_setsigmask(&attributes, &noSignals) }
        if code == 0 {
            code = posix_spawnattr_setflags(&attributes, Int16(GNUSpawn.setsid | Int32(POSIX_SPAWN_SETSIGDEF) | Int32(POSIX_SPAWN_SETSIGMASK)))
        }
        guard code == 0 else {
            closePipes()
            throw SpawnError(operation: "posix_spawnattr", code: code)
        }

        // Both `nice` and `setpriority` clamp a value beyond 19 to 19.
        let nice = niceness > 0 ? niceExecutable : nil
        let spawned = nice.map { [$0, "-n", String(niceness)] + arguments } ?? arguments
        let argv = spawned.map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        code = posix_spawn(&pid, spawned[0], &actions, &attributes, argv, envp)
        if let pipes {
            close(pipes.out[1])
            close(pipes.err[1])
        }
        guard code == 0 else {
            if let pipes { close(pipes.out[0]); close(pipes.err[0]) }
            throw SpawnError(operation: "posix_spawn \(arguments[0])", code: code)
        }
        if niceness > 0 && nice == nil {
            // No `nice` on this machine: lower the child's priority now. What it forked meanwhile keeps previewd's.
            _ = setpriority(PriorityTarget.process, id_t(pid), Int32(ownNiceness + niceness))
        }

        var lines: AsyncStream<OutputLine>? = nil
        if let pipes {
            let (stream, continuation) = AsyncStream.makeStream(of: OutputLine.self)
            lines = stream
            let out = pipes.out[0]
            let err = pipes.err[0]
            Thread.detachNewThread { readLines(out: out, err: err, into: continuation) }
        }
        let child = ChildProcess(pid: pid, lines: lines)
        Thread.detachNewThread { [child] in
            var status: Int32 = 0
            while waitpid(child.pid, &status, 0) < 0 {
                if errno != EINTR {
                    // Someone else reaped it; its status is lost.
                    status = 0x7f00
                    break
                }
            }
            child.reaped(ChildExitStatus(waitStatus: status))
        }
        return child
    }
}

/// Reads both pipes until both reach end of file, splitting lines; runs on its own thread.
private func readLines(out: Int32, err: Int32, into continuation: AsyncStream<OutputLine>.Continuation) {
    var descriptors = [pollfd(fd: out, events: Int16(POLLIN), revents: 0), pollfd(fd: err, events: Int16(POLLIN), revents: 0)]
    var pending = [Data(), Data()]
    let streams: [LogStream] = [.stdout, .stderr]
    var open = 2
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)

    func emit(_ bytes: Data, _ index: Int) {
        var text = String(decoding: bytes, as: UTF8.self)
        if text.hasSuffix("\r") { text.removeLast() }
        continuation.yield(OutputLine(text: text, stream: streams[index]))
    }

    while open > 0 {
        let ready = poll(&descriptors, nfds_t(descriptors.count), -1)
        if ready < 0 {
            if errno == EINTR { continue }
            break
        }
        for index in descriptors.indices where descriptors[index].fd >= 0 && descriptors[index].revents != 0 {
            let count = buffer.withUnsafeMutableBytes { read(descriptors[index].fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 {
                close(descriptors[index].fd)
                descriptors[index].fd = -1
                open -= 1
                continue
            }
            pending[index].append(contentsOf: buffer[0..<count])
            while let newline = pending[index].firstIndex(of: 0x0A) {
                emit(pending[index][pending[index].startIndex..<newline], index)
                pending[index] = Data(pending[index][(newline + 1)...])
            }
            while pending[index].count >= ChildProcess.maxLineBytes {
                emit(pending[index].prefix(ChildProcess.maxLineBytes), index)
                pending[index] = Data(pending[index].dropFirst(ChildProcess.maxLineBytes))
            }
        }
    }
    for index in descriptors.indices where descriptors[index].fd >= 0 { close(descriptors[index].fd) }
    for index in pending.indices where !pending[index].isEmpty { emit(pending[index], index) }
    continuation.finish()
}

/// glibc extensions Swift does not import (they sit behind `_GNU_SOURCE`), looked up at run time.
enum GNUSpawn {
    /// `POSIX_SPAWN_SETSID` from glibc's `spawn.h` (2.26+): the child calls `setsid()`.
    static let setsid: Int32 = 0x80

    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
    private typealias Chdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32

    private static let closeFrom: CloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np", as: CloseFrom.self)
    private static let chdir: Chdir? = symbol("posix_spawn_file_actions_addchdir_np", as: Chdir.self)

    private static func symbol<T>(_ name: String, as type: T.Type) -> T? {
        // RTLD_DEFAULT is a null handle in glibc.
        guard let address = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(address, to: type)
    }

    /// Closes every descriptor from `low` up in the child; a no-op where the C library lacks it (descriptors
    /// previewd opens are close-on-exec anyway).
    static func addCloseFrom(_ actions: inout posix_spawn_file_actions_t, _ low: Int32) -> Int32 {
        guard let closeFrom else { return 0 }
        return closeFrom(&actions, low)
    }

    /// Changes directory in the child before exec.
    static func addChdir(_ actions: inout posix_spawn_file_actions_t, _ path: String) -> Int32 {
        guard let chdir else { return ENOSYS }
        return chdir(&actions, path)
    }
}

/// `which` for `getpriority`/`setpriority`: glibc declares it as an enum, which Swift imports as a struct.
enum PriorityTarget {
    static let process = __priority_which_t(PRIO_PROCESS.rawValue)
}
