import Foundation

/// The dashboard's data as plain text for `previewd sessions` and `previewd logs`.
public enum TerminalReport {
    /// A table of sessions, one a line, newest first, with a footer naming the page.
    public static func sessions(_ page: SessionPage, now: Date = Date()) -> String {
        let header = ["SESSION", "STATE", "REPOSITORY", "BRANCH", "PR", "STEP", "DONE", "PREVIEW", "UPDATED"]
        var rows = [header]
        for session in page.sessions {
            rows.append([
                session.id.uuidString.lowercased(), session.state, session.repository, clean(session.branch),
                session.pullRequest.map { "#\($0)" } ?? "-",
                session.currentStep.map { "\($0) \(session.currentStepStatus ?? "")" } ?? "no run",
                "\(session.progressPercent)%", session.previewURL.map(clean) ?? "-", formatAge(session.updatedAt, now: now),
            ])
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        var text = rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
        let pages = max(1, (page.total + page.perPage - 1) / page.perPage)
        text += "\n\n\(page.total) session\(page.total == 1 ? "" : "s"), page \(page.page) of \(pages)\n"
        return text
    }

    /// A step's log: a header line, then the lines as they were written.
    public static func log(_ log: StepLog) -> String {
        var text = "# \(log.step.name): \(log.step.status)"
        if log.step.attempt > 1 { text += ", attempt \(log.step.attempt)" }
        if let duration = log.step.durationSeconds { text += ", \(formatDuration(duration))" }
        text += "\n"
        for line in log.lines { text += clean(line.line) + "\n" }
        if let error = log.step.error { text += "# error: \(clean(error))\n" }
        if log.truncated { text += "# more lines follow\n" }
        return text
    }

    /// Control characters from GitHub or a build (escape sequences) would drive the terminal: show them escaped.
    static func clean(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 && scalar != "\t" || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value) {
                result += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}

extension DashboardStore {
    /// The session whose id is `text` or starts with it (at least 4 characters); `nil` when none or several match.
    public func sessionID(matching text: String) async throws -> UUID? {
        if let id = UUID(uuidString: text) { return try await sessionExists(id, scope: .all) ? id : nil }
        let prefix = text.lowercased()
        guard prefix.count >= 4, prefix.allSatisfy({ $0.isHexDigit || $0 == "-" }) else { return nil }
        let rows = try await client.query("SELECT id FROM setup_sessions WHERE id::text LIKE \(prefix + "%") LIMIT 2")
        return rows.count == 1 ? try rows[0].decode("id", as: UUID.self) : nil
    }
}

extension DashboardStore {
    /// The whole log of the step named `step` in the current run of the session `session` (an id or its
    /// first characters); `nil` when no session matches or it has no run yet.
    public func fullLog(sessionMatching session: String, step: String) async throws -> StepLog? {
        guard let id = try await sessionID(matching: session), let (found, runID) = try await self.step(session: id, name: step, scope: .all) else { return nil }
        var lines: [LogLine] = []
        var after: Int64 = 0
        while true {
            let batch = try await logLines(step: found.id, after: after, limit: 10_000, scope: .all)
            lines += batch
            guard let last = batch.last, batch.count == 10_000 else { break }
            after = last.id
        }
        return StepLog(sessionID: id, step: found, runID: runID, lines: lines, truncated: false)
    }
}
