// `--netns`: the hub and the devices become two hosts. The tool creates two network namespaces joined
// by a veth pair, shapes both directions with `tc ... tbf rate 1gbit` (a gigabit link; this kernel has
// no netem), re-runs itself inside the hub's namespace, starts the devices inside theirs, and removes
// everything afterwards. Root only. All addresses live inside the namespaces it created.
import ArgumentParser
import Foundation

/// How the two hosts are joined under --netns.
enum Topology: String, ExpressibleByArgument, CaseIterable {
    /// One veth pair; each end's egress is shaped, so queueing happens at the endpoints.
    case direct
    /// A third namespace forwards between two veth pairs and holds the shaped queues, so queueing is
    /// invisible to the endpoints' timestamps (a loaded switch between hub and device).
    case `switch`
}

struct NetnsOptions: ParsableArguments {
    @Flag(help: "Run devices in their own network namespace behind a veth pair shaped to 1 Gbit/s (root only).")
    var netns = false
    @Option(help: "With --netns: direct (one veth pair) or switch (a forwarding namespace holds the shaped queues).")
    var topology: Topology = .direct
    @Option(help: .hidden) var insideNetns: String?

    /// The device-side namespace when running inside the hub's namespace.
    var deviceNamespace: String? { insideNetns }

    /// How the hub and the devices were joined, for the JSON output.
    var linkDescription: String {
        guard deviceNamespace != nil else { return "loopback" }
        return topology == .direct
            ? "veth between network namespaces, tbf 1gbit at both ends"
            : "two veth pairs through a forwarding namespace holding tbf 1gbit queues (switch)"
    }
}

/// The two-namespace link of one benchmark run.
struct NetnsLink {
    static let hubAddress = "10.77.0.1"
    static let deviceAddress = "10.77.0.2"
    static let switchedDeviceAddress = "10.77.1.2"
    let hubNamespace: String
    let deviceNamespace: String
    let switchNamespace: String
    let hubInterface: String
    let deviceInterface: String
    let topology: Topology

    init(topology: Topology) {
        let tag = String(getpid() % 100_000)
        hubNamespace = "lockstep-hub-\(tag)"
        deviceNamespace = "lockstep-dev-\(tag)"
        switchNamespace = "lockstep-sw-\(tag)"
        hubInterface = "lsh\(tag)"
        deviceInterface = "lsd\(tag)"
        self.topology = topology
    }

    /// The `ip` steps that build the link.
    var steps: [[String]] {
        let shape = ["root", "tbf", "rate", "1gbit", "burst", "256kb", "latency", "20ms"]
        guard topology == .switch else {
            return [
                ["netns", "add", hubNamespace], ["netns", "add", deviceNamespace],
                ["link", "add", hubInterface, "type", "veth", "peer", "name", deviceInterface],
                ["link", "set", hubInterface, "netns", hubNamespace], ["link", "set", deviceInterface, "netns", deviceNamespace],
                ["-n", hubNamespace, "addr", "add", NetnsLink.hubAddress + "/30", "dev", hubInterface],
                ["-n", deviceNamespace, "addr", "add", NetnsLink.deviceAddress + "/30", "dev", deviceInterface],
                ["-n", hubNamespace, "link", "set", "lo", "up"], ["-n", deviceNamespace, "link", "set", "lo", "up"],
                ["-n", hubNamespace, "link", "set", hubInterface, "up"], ["-n", deviceNamespace, "link", "set", deviceInterface, "up"],
                ["netns", "exec", hubNamespace, "tc", "qdisc", "add", "dev", hubInterface] + shape,
                ["netns", "exec", deviceNamespace, "tc", "qdisc", "add", "dev", deviceInterface] + shape,
            ]
        }
        // hub 10.77.0.1 ─ 10.77.0.2 [switch] 10.77.1.1 ─ 10.77.1.2 device; queues on the switch's egress.
        let toHub = "lsw\(hubInterface.dropFirst(3))a"
        let toDevice = "lsw\(hubInterface.dropFirst(3))b"
        return [
            ["netns", "add", hubNamespace], ["netns", "add", deviceNamespace], ["netns", "add", switchNamespace],
            ["link", "add", hubInterface, "type", "veth", "peer", "name", toHub],
            ["link", "add", deviceInterface, "type", "veth", "peer", "name", toDevice],
            ["link", "set", hubInterface, "netns", hubNamespace], ["link", "set", deviceInterface, "netns", deviceNamespace],
            ["link", "set", toHub, "netns", switchNamespace], ["link", "set", toDevice, "netns", switchNamespace],
            ["-n", hubNamespace, "addr", "add", NetnsLink.hubAddress + "/30", "dev", hubInterface],
            ["-n", switchNamespace, "addr", "add", "10.77.0.2/30", "dev", toHub],
            ["-n", switchNamespace, "addr", "add", "10.77.1.1/30", "dev", toDevice],
            ["-n", deviceNamespace, "addr", "add", NetnsLink.switchedDeviceAddress + "/30", "dev", deviceInterface],
            ["-n", hubNamespace, "link", "set", "lo", "up"], ["-n", deviceNamespace, "link", "set", "lo", "up"],
            ["-n", switchNamespace, "link", "set", "lo", "up"],
            ["-n", hubNamespace, "link", "set", hubInterface, "up"], ["-n", deviceNamespace, "link", "set", deviceInterface, "up"],
            ["-n", switchNamespace, "link", "set", toHub, "up"], ["-n", switchNamespace, "link", "set", toDevice, "up"],
            ["netns", "exec", switchNamespace, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"],
            ["-n", hubNamespace, "route", "add", "10.77.1.0/30", "via", "10.77.0.2"],
            ["-n", deviceNamespace, "route", "add", "10.77.0.0/30", "via", "10.77.1.1"],
            ["netns", "exec", switchNamespace, "tc", "qdisc", "add", "dev", toHub] + shape,
            ["netns", "exec", switchNamespace, "tc", "qdisc", "add", "dev", toDevice] + shape,
        ]
    }

    static func ipPath() throws -> String {
        for path in ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"] where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        throw BenchError("--netns needs iproute2 (`ip`, `tc`): apt-get install iproute2")
    }

    func setUp() throws {
        guard getuid() == 0 else { throw BenchError("--netns needs root (ip netns, veth pairs and tc)") }
        let ip = try NetnsLink.ipPath()
        for step in steps {
            let (status, output) = run(ip, step)
            guard status == 0 else {
                tearDown()
                throw BenchError("ip \(step.joined(separator: " ")) failed: \(output)")
            }
        }
    }

    func tearDown() {
        guard let ip = try? NetnsLink.ipPath() else { return }
        _ = run(ip, ["netns", "delete", hubNamespace])  // deleting the namespace removes the veth pair too
        _ = run(ip, ["netns", "delete", deviceNamespace])
        if topology == .switch { _ = run(ip, ["netns", "delete", switchNamespace]) }
    }

    /// Re-runs this benchmark inside the hub's namespace; returns its exit status.
    func runInside(arguments: [String]) throws -> Int32 {
        let ip = try NetnsLink.ipPath()
        let own = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ip)
        process.arguments = ["netns", "exec", hubNamespace, own] + arguments + ["--inside-netns", deviceNamespace]
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    func run(_ executable: String, _ arguments: [String]) -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (-1, "\(error)") }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// Runs `body` directly, or with `--netns` sets up the link, re-runs the command inside the hub's
/// namespace and tears the link down. Returns normally only when the command should continue here.
func dispatchNetns(_ options: NetnsOptions) throws -> Bool {
    guard options.netns, options.insideNetns == nil else { return true }
    let link = NetnsLink(topology: options.topology)
    try link.setUp()
    defer { link.tearDown() }
    let forwarded = Array(CommandLine.arguments.dropFirst())
    let status = try link.runInside(arguments: forwarded)
    if status != 0 { throw ExitCode(status) }
    return false
}

/// The command prefix and hub address for device processes (empty prefix without --netns).
func deviceLaunch(_ options: NetnsOptions, executable: String) throws -> (executable: String, prefix: [String], hubHost: String) {
    guard let namespace = options.deviceNamespace else { return (executable, [], "127.0.0.1") }
    return (try NetnsLink.ipPath(), ["netns", "exec", namespace, executable], NetnsLink.hubAddress)
}
