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
        default:
            throw CommandLineError(description: "unknown command '\(first)'; run 'previewd --help' for the list")
        }
        if arguments.count > 1 {
            throw CommandLineError(description: "'\(first)' takes no arguments, got '\(arguments.dropFirst().joined(separator: " "))'")
        }
        return command
    }
}
