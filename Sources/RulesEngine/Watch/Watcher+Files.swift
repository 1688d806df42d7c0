import Foundation
import LuaKit
import Outbox

/// `fms.watch` and `fms.tail` on inotify, the rule files themselves, and messages handed over
/// by `fms send --queue`.
extension Watcher {
    /// What a watch spec of a generation's file watcher is for.
    enum FileTarget: Sendable {
        case watch(HandlerChannel)
        case tail(HandlerChannel, TailFollower)

        var registration: Registration {
            switch self {
            case .watch(let channel), .tail(let channel, _): return channel.registration
            }
        }
    }

    func startFileSources(_ current: Generation) async {
        var specs: [WatchSpec] = []
        var targets: [FileTarget] = []
        for channel in current.registrations("watch") + current.registrations("tail") {
            switch channel.registration.spec {
            case .watch(let spec)?:
                specs.append(spec)
                targets.append(.watch(channel))
            case .tail(let path, let match)?:
                let follower = await tailFollower(for: channel.registration, path: path, match: match)
                specs.append(WatchSpec(path: WatchPath.parent(path), glob: Self.escapeGlob(WatchPath.name(path)),
                                       kinds: FileEvent.Kind.watchable))
                targets.append(.tail(channel, follower))
            default:
                continue
            }
        }
        guard !specs.isEmpty else { return }
        let metrics = metrics
        let logger = logger
        let outbox = outbox
        let wallClock = wallClock
        // Lines written while the watcher was away (or between loading and watching) count. On a
        // thread of its own: a long backlog waits for the handler, which must not hold the actor.
        let tails = targets.compactMap { target -> (HandlerChannel, TailFollower)? in
            if case .tail(let channel, let follower) = target { return (channel, follower) }
            return nil
        }
        if !tails.isEmpty {
            Thread {
                for (channel, follower) in tails {
                    Watcher.pollTail(channel, follower, metrics: metrics, logger: logger, outbox: outbox, wallClock: wallClock)
                }
            }.start()
        }
        var active = Array(specs.indices)
        while !active.isEmpty {
            let chosenSpecs = active.map { specs[$0] }
            let chosenTargets = active.map { targets[$0] }
            do {
                let watcher = try FileWatcher(chosenSpecs, errors: { error in
                    // Name the registrations the failing path belongs to.
                    let owners = zip(chosenSpecs, chosenTargets).filter { spec, _ in
                        guard let path = error.path else { return true }
                        return path == spec.path || WatchPath.isInside(path, spec.path)
                    }.map { $0.1.registration.position }
                    logger.log(.warn, "file watch: \(error)", owners.isEmpty ? [] : [("position", owners.joined(separator: ", "))])
                }, handler: { event in
                    switch chosenTargets[event.specIndex] {
                    case .watch(let channel):
                        if channel.deliverWaiting([EventTables.file(event, time: wallClock())]) { metrics.noteEvent(.watch) }
                    case .tail(let channel, let follower):
                        Watcher.pollTail(channel, follower, metrics: metrics, logger: logger, outbox: outbox, wallClock: wallClock)
                    }
                })
                current.fileWatcher.withLock { $0 = watcher }
                return
            } catch {
                // Leave out the registrations whose path cannot be watched; keep the others.
                let failing = active.filter { index in
                    guard let bad = error.path else { return false }
                    let path = specs[index].path
                    return path == bad || WatchPath.isInside(path, bad) || WatchPath.isInside(bad, path)
                }
                let dropped = failing.isEmpty ? active : failing
                for index in dropped {
                    let registration = targets[index].registration
                    logger.log(.error, "\(registration.kind) cannot watch \(specs[index].path): \(error); this registration is inactive "
                               + "until the next reload", [("position", registration.position)])
                }
                active.removeAll { dropped.contains($0) }
            }
        }
    }

    /// The follower of a tail: the one the last rule set used when it is the same rule, path and
    /// match (it knows how far the lines were read), else one resuming from the saved offset.
    private func tailFollower(for registration: Registration, path: String, match: String?) async -> TailFollower {
        let key = registration.rule + "\n" + path + "\n" + (match ?? "")
        if let follower = tailFollowers[key] { return follower }
        let saved = await loadTailState(registration, path: path)
        let follower = TailFollower(path: path, match: match, state: saved)
        tailFollowers[key] = follower
        return follower
    }

    /// Drops the followers no registration of the running rule set uses.
    func forgetUnusedTails() {
        guard let current = generation else {
            tailFollowers = [:]
            return
        }
        var used = Set<String>()
        for channel in current.registrations("tail") {
            if case .tail(let path, let match)? = channel.registration.spec {
                used.insert(channel.registration.rule + "\n" + path + "\n" + (match ?? ""))
            }
        }
        tailFollowers = tailFollowers.filter { used.contains($0.key) }
    }

    /// Polls a tail until it has nothing more, delivering each line (waiting while the handler's
    /// queue is full); the offset is saved once the batch's last line was handled, through the
    /// same queue, so saved offsets never go backwards.
    static func pollTail(_ channel: HandlerChannel, _ follower: TailFollower, metrics: WatchMetrics,
                         logger: WatchLogger, outbox: Outbox?, wallClock: @escaping @Sendable () -> Double) {
        var more = true
        while more {
            let batch = follower.poll()
            more = batch.more
            for problem in batch.problems {
                logger.log(.warn, "tail \(follower.path): \(problem)", [("position", channel.registration.position)])
            }
            guard !batch.lines.isEmpty || !batch.events.isEmpty else { continue }
            let registration = channel.registration
            let state = TailFollower.encode(batch.state)
            let persist: @Sendable () async -> Void = {
                guard let outbox else { return }
                do {
                    try await outbox.setRuleState(rule: registration.rule, key: "tail:" + follower.path, value: state)
                } catch {
                    logger.log(.warn, "tail \(follower.path): cannot save the offset: \(error)", [("position", registration.position)])
                }
            }
            guard !batch.lines.isEmpty else {
                // A rotation or truncation without new lines still moves the saved position.
                channel.deliverWaiting(nil, afterwards: persist)
                continue
            }
            let info = LuaValue.table(LuaTable(["path": .text(follower.path), "time": .number(wallClock())]))
            var delivered = 0
            for (offset, line) in batch.lines.enumerated() {
                let last = offset == batch.lines.count - 1
                if channel.deliverWaiting([.text(line), info], afterwards: last ? persist : nil) { delivered += 1 }
            }
            if delivered > 0 { metrics.noteEvent(.tail, count: delivered) }
        }
    }

    private func loadTailState(_ registration: Registration, path: String) async -> LogTailState? {
        guard let outbox else { return nil }
        do {
            return TailFollower.decode(try await outbox.ruleState(rule: registration.rule, key: "tail:" + path))
        } catch {
            logger.log(.warn, "tail \(path): cannot read the saved offset: \(error)", [("position", registration.position)])
            return nil
        }
    }

    /// A file name as an `fnmatch` pattern matching only itself.
    static func escapeGlob(_ name: String) -> String {
        var out = ""
        for character in name {
            if "*?[]\\".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }

    /// Reloads when a rule file is added, changed, moved or removed (once, for the whole run).
    func watchRuleFiles() {
        guard ruleFileWatcher == nil else { return }
        var specs: [WatchSpec] = []
        for path in options.rulePaths {
            var isDirectory: ObjCBool = false
            let absolute = WatchSpec.normalize(path)
            if FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory), isDirectory.boolValue {
                specs.append(WatchSpec(path: absolute, glob: "*.lua", kinds: [.create, .modify, .move, .delete],
                                       debounce: options.reloadDelay))
            } else {
                specs.append(WatchSpec(path: WatchPath.parent(absolute), glob: Self.escapeGlob(WatchPath.name(absolute)),
                                       kinds: [.create, .modify, .move, .delete], debounce: options.reloadDelay))
            }
        }
        do {
            ruleFileWatcher = try FileWatcher(specs) { [weak self] event in
                guard !event.path.hasSuffix(".meta.lua") else { return }
                Task { await self?.reload(reason: "\(WatchPath.name(event.path)) changed") }
            }
        } catch {
            logger.log(.warn, "cannot watch the rule files for changes (\(error)); reload with SIGHUP")
        }
    }

    /// Takes in what `fms send --queue` hands over while this process holds the state directory.
    func watchHandovers(_ outbox: Outbox) {
        let folder = IntakeHandover.folder(outbox.configuration.directory)
        let logger = logger
        let take: @Sendable () async -> Void = {
            do {
                let result = try await outbox.absorbHandedOver()
                if result.queued > 0 { logger.log(.info, "queued \(result.queued) message(s) handed over by another fms process") }
                if !result.duplicates.isEmpty {
                    logger.log(.warn, "ignored \(result.duplicates.count) handed-over message(s) whose customFmsId is already in the "
                               + "outbox: " + result.duplicates.prefix(10).joined(separator: ", "))
                }
            } catch {
                logger.log(.error, "cannot take the messages handed over in \(folder): \(error)")
            }
        }
        do {
            handoverWatcher = try FileWatcher([WatchSpec(path: folder, glob: "*.log", kinds: [.create, .move])]) { _ in
                Task { await take() }
            }
        } catch {
            logger.log(.warn, "cannot watch \(folder) (\(error)): messages queued by 'fms send --queue' wait for the next start")
        }
        // Files that arrived between opening the outbox and watching the folder.
        Task { await take() }
    }
}
