import PreviewModel

extension PreviewPlan {
    /// The plan as Markdown for the detect check run: a table of the choices, then the reasons.
    ///
    /// Environment values are not shown (only names), so a value that should have been a secret is not
    /// copied into every check run.
    public var summaryMarkdown: String {
        var rows: [(String, String)] = [
            ("Stack", Self.code(projectType)),
            ("Root", Self.code(root)),
            ("Install", installCommand.map(Self.code) ?? "—"),
            ("Build", buildCommand.map(Self.code) ?? "—"),
            ("Start", startCommand.map(Self.code) ?? (dockerfile != nil || image != nil ? "the image's command" : "—")),
            ("Port", String(port)),
            ("Image", image.map(Self.code) ?? (dockerfile != nil ? "built from the Dockerfile" : "—")),
        ]
        if let dockerfile { rows.append(("Dockerfile", Self.code(dockerfile))) }
        rows.append(("Size", "\(size.cpus) \(size.cpuKind) CPU\(size.cpus == 1 ? "" : "s"), \(size.memoryMB) MB"))
        if !environment.isEmpty { rows.append(("Environment", environment.keys.sorted().map(Self.code).joined(separator: ", "))) }
        if !secretNames.isEmpty { rows.append(("Secrets", secretNames.map(Self.code).joined(separator: ", "))) }
        if let region { rows.append(("Region", Self.code(region))) }
        var text = "| | |\n|---|---|\n"
        for (name, value) in rows { text += "| \(name) | \(value) |\n" }
        if !reasons.isEmpty {
            text += "\n**Why**\n\n"
            for reason in reasons { text += "- \(Self.escape(reason))\n" }
        }
        return text
    }

    /// A Markdown code span that survives backticks and pipes inside a table cell.
    static func code(_ text: String) -> String {
        let fence = text.contains("`") ? "``" : "`"
        let padding = text.hasPrefix("`") || text.hasSuffix("`") ? " " : ""
        return fence + padding + text.replacingPipes + padding + fence
    }

    static func escape(_ text: String) -> String { text.replacingPipes }
}

extension String {
    /// GitHub ends a table cell at `|` even inside code spans, unless it is escaped.
    fileprivate var replacingPipes: String {
        var result = ""
        for character in self {
            if character == "|" { result += "\\|" } else { result.append(character) }
        }
        return result
    }
}
