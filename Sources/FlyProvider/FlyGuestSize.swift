import PreviewModel

/// Checks a plan's machine size against what Fly offers, rounding memory up to whole 256 MB steps.
public enum FlyGuestSize {
    /// CPU counts Fly offers.
    public static let cpuCounts = [1, 2, 4, 8, 16]
    public static let memoryStepMB = 256

    /// The size Fly will accept for `size`: memory rounded up to a multiple of 256 MB and to the CPU kind's minimum.
    /// Throws ``FlyError/invalidInput(_:)`` for an unknown CPU kind, an unavailable CPU count, or too much memory.
    public static func normalized(_ size: MachineSize) throws -> MachineSize {
        let kind = size.cpuKind.lowercased()
        guard kind == "shared" || kind == "performance" else {
            throw FlyError.invalidInput("size.cpu_kind '\(size.cpuKind)' is not offered by Fly.io; use 'shared' or 'performance'")
        }
        guard cpuCounts.contains(size.cpus) else {
            throw FlyError.invalidInput("size.cpus \(size.cpus) is not offered by Fly.io; use one of \(cpuCounts.map(String.init).joined(separator: ", "))")
        }
        // Fly's limits per CPU: shared 256 MB…2 GB, performance 2 GB…8 GB.
        let minimum = kind == "shared" ? memoryStepMB : 2_048 * size.cpus
        let maximum = (kind == "shared" ? 2_048 : 8_192) * size.cpus
        var memory = max(size.memoryMB, minimum)
        memory = (memory + memoryStepMB - 1) / memoryStepMB * memoryStepMB
        guard memory <= maximum else {
            throw FlyError.invalidInput("size.memory_mb \(size.memoryMB) is more than Fly.io gives \(size.cpus) \(kind) CPU(s) (at most \(maximum) MB)")
        }
        return MachineSize(cpuKind: kind, cpus: size.cpus, memoryMB: memory)
    }
}
