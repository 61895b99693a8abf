/// What the `previewd` executable was asked to do.
public enum PreviewdCommand: Equatable, Sendable {
    /// Run the service (the default).
    case serve
    /// Apply database migrations and exit.
    case migrate
    /// Ask GitHub to redeliver webhook deliveries previewd missed, print what was done, and exit.
    case redeliver(RedeliverOptions)
    /// Print the version and exit.
    case version
    /// Print usage and exit.
    case help
    /// List sessions (`previewd sessions [--repository R] [--branch B] [--state S] [--page N]`).
    case sessions(SessionListOptions)
    /// Print a step's log (`previewd logs <session> <step>`).
    case logs(session: String, step: String)
}

/// What `previewd sessions` lists.
public struct SessionListOptions: Equatable, Sendable {
    public var repository: String?
    public var branch: String?
    public var state: String?
    public var page: Int = 1
    public var perPage: Int = 50

    public init(repository: String? = nil, branch: String? = nil, state: String? = nil, page: Int = 1, perPage: Int = 50) {
        self.repository = repository
        self.branch = branch
        self.state = state
        self.page = page
        self.perPage = perPage
    }
}

/// A command line previewd does not understand.
public struct CommandLineError: Error, Equatable, CustomStringConvertible, Sendable {
    public let description: String
}

/// previewd's version, shown by `previewd version` and sent in GitHub's `User-Agent`.
public enum PreviewdVersion {
    public static let current = "0.1.0"
}

/// Parses `previewd`'s arguments.
public enum CommandLineInterface {
    public static let usage = """
        previewd \(PreviewdVersion.current) — live preview environments for every branch, as a GitHub App.

        Usage: previewd [command]

        Commands:
          serve     Run the service: webhook intake, workers, dashboard (default).
          migrate   Apply database migrations and exit.
          redeliver [--since 6h] [--dry-run] [--all]
                    Ask GitHub to redeliver webhook deliveries previewd missed
                    (default: the last 3d, GitHub's redelivery window).
          sessions  List sessions, newest first (read-only).
                    Options: --repository OWNER/NAME, --branch NAME, --state active|destroying|destroyed,
                    --page N, --per-page N (at most 100).
          logs      Print the log of a step of a session's current run (read-only):
                    previewd logs <session id or its first characters> <detect|allocate|configure|boot>
          version   Print the version and exit.
          help      Show this help (also -h, --help).

        Configuration comes from environment variables over config/previewd.json;
        see README.md for the list (PORT, DATABASE_URL, GITHUB_WEBHOOK_SECRET, ...).
        """

    /// Parses the arguments after the program name.
    public static func parse(_ arguments: [String]) throws(CommandLineError) -> PreviewdCommand {
        guard let first = arguments.first else { return .serve }
        let command: PreviewdCommand
        switch first {
        case "serve": command = .serve
        case "migrate": command = .migrate
        case "redeliver": return .redeliver(try RedeliverOptions.parse(Array(arguments.dropFirst())))
        case "version", "--version", "-V": command = .version
        case "help", "--help", "-h": command = .help
        case "sessions": return .sessions(try parseSessionOptions(Array(arguments.dropFirst())))
        case "logs":
            let rest = Array(arguments.dropFirst())
            guard rest.count == 2 else {
                throw CommandLineError(description: "'logs' takes a session id and a step name, e.g. 'previewd logs 3f2a detect'")
            }
            guard ["detect", "allocate", "configure", "boot"].contains(rest[1]) else {
                throw CommandLineError(description: "unknown step '\(rest[1])'; the steps are detect, allocate, configure and boot")
            }
            return .logs(session: rest[0], step: rest[1])
        default:
            throw CommandLineError(description: "unknown command '\(first)'; run 'previewd --help' for the list")
        }
        if arguments.count > 1 {
            throw CommandLineError(description: "'\(first)' takes no arguments, got '\(arguments.dropFirst().joined(separator: " "))'")
        }
        return command
    }
}

extension CommandLineInterface {
    static func parseSessionOptions(_ arguments: [String]) throws(CommandLineError) -> SessionListOptions {
        var options = SessionListOptions()
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            var name = argument
            var value: String?
            if let equals = argument.firstIndex(of: "="), argument.hasPrefix("--") {
                name = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            } else if index + 1 < arguments.count {
                value = arguments[index + 1]
                index += 1
            }
            index += 1
            guard let value, !value.isEmpty else { throw CommandLineError(description: "'\(name)' needs a value") }
            switch name {
            case "--repository", "--repo": options.repository = value
            case "--branch": options.branch = value
            case "--state":
                guard ["active", "destroying", "destroyed"].contains(value) else {
                    throw CommandLineError(description: "--state must be active, destroying or destroyed, got '\(value)'")
                }
                options.state = value
            case "--page":
                guard let page = Int(value), page >= 1 else { throw CommandLineError(description: "--page must be a positive integer, got '\(value)'") }
                options.page = page
            case "--per-page":
                guard let perPage = Int(value), (1...100).contains(perPage) else {
                    throw CommandLineError(description: "--per-page must be between 1 and 100, got '\(value)'")
                }
                options.perPage = perPage
            default:
                throw CommandLineError(description: "unknown option '\(name)' for 'sessions'; run 'previewd --help' for the list")
            }
        }
        return options
    }
}
