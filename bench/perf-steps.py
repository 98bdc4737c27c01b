#!/usr/bin/env python3
# perf-steps.py CPU_US < `perf script -F comm,tid,ip,sym,dso`: each sample of `mail serve` to the innermost frame that names
# a pipeline step, under the outermost that names a component (worker, SMTP edge, IMAP); prints each step's share and
# that share of CPU_US (the run's server CPU per message). Used for bench/README.md, "Where the server's CPU goes".
import sys, re, collections
# perf script output: sample header line, then frames "\t addr sym (dso)", blank line between samples
STEPS = [  # (name, regex) matched from the leaf outwards; the first hit names the step
 ("spool receive / poll", r"SpoolQueue::ReceiveAsync|SpoolQueue\+<ReceiveAsync|QueuePoller"),
 ("queue completion", r"SpoolQueue::CompleteAsync|LeaseSettlement|CountingSettlement|SpoolQueue::Forget"),
 ("original delete", r"EmbeddedMessageStore::DeleteAsync|EmbeddedMessageStore\+<DeleteAsync|SegmentMessageStore::MarkDead|SegmentMessageStore::DeleteAsync|DeleteOriginal"),
 ("mailbox copy write (file/segment + sync)", r"WriteCopyAsync|WriteMessageAsync|FileMessageStore\+Writer|SegmentMessageStore\+Writer|SyncFileSystem|DurabilityBarrier::RunDirectories"),
 ("mailbox index append", r"SqliteMailboxStore|AppendCreatingMailboxes"),
 ("trail / state writes", r"MessageTrail|FinalOutcomeWriter|SqliteStateStore::(Update|Put|TryPut)"),
 ("SQLite group commit (index+trail+edge state)", r"SqliteGroupCommit"),
 ("Sieve", r"SieveFilter|SieveScripts|SieveView"),
 ("checks: SPF/DKIM/DMARC/ARC", r"Mail\.Auth\.|AuthenticationCheck"),
 ("checks: header/body (content)", r"ContentChecks"),
 ("checks: other (score, DNS lists)", r"Mail\.Defences\.|InboundChecks"),
 ("parse (MimeKit)", r"MimeParser|MimeMessage::Load|HeaderBlock"),
 ("original open/read", r"SegmentMessageStore::OpenReadAsync|SliceStream|EmbeddedMessageStore::OpenReadAsync"),
 ("recipients/directory", r"SortRecipients|MailDirectory|SqliteStateStore"),
 ("inbound stage (other)", r"InboundStage|LocalWorker|StageDriver"),
]
TOP = [("edge (SMTP)", r"Mail\.Smtp\.|RestrictionPolicy|SmtpEdge|SpoolQueue::SendAsync|SpoolQueue\+<SendAsync"),
       ("IMAP", r"Mail\.Imap\."),
       ("worker", r"InboundStage|LocalWorker|QueuePoller|StageDriver")]
steps = [(n, re.compile(r)) for n, r in STEPS]
tops = [(n, re.compile(r)) for n, r in TOP]
count = collections.Counter(); total = 0
frames = []
def flush():
    global total
    if not frames: return
    total += 1
    top = None
    for n, r in tops:
        if any(r.search(f) for f in frames): top = n; break
    step = None
    for f in frames:
        for n, r in steps:
            if r.search(f): step = n; break
        if step: break
    if top == "worker" or (top is None and step):
        key = ("worker", step or "inbound stage (other)")
    elif top:
        # the edge's own steps
        if top == "edge (SMTP)" and any("DurabilityBarrier" in f for f in frames): key = (top, "group commit (DurabilityBarrier)")
        else: key = (top, "")
    else:
        leaf = frames[0]
        if "DurabilityBarrier" in " ".join(frames): key = ("shared", "DurabilityBarrier thread (edge + copies)")
        elif "SqliteGroupCommit" in " ".join(frames) or "sqlite" in " ".join(frames).lower(): key = ("shared", "SQLite (unattributed)")
        elif "[kernel" in leaf or "kallsyms" in leaf: key = ("unattributed", "kernel (scheduler, softirq, I/O completion)")
        elif "libcoreclr" in leaf or "GC" in leaf: key = ("unattributed", "runtime (GC, JIT stubs, thread pool)")
        else: key = ("unattributed", "other")
    count[key] += 1
for line in sys.stdin:
    if not line.strip():
        flush(); frames = []; continue
    if line.startswith((" ", "\t")): frames.append(line.strip())
    else: frames = []
flush()
cpu = float(sys.argv[1]) if len(sys.argv) > 1 else 0
for (t, s), c in sorted(count.items(), key=lambda kv: (-sum(v for (t2,_),v in count.items() if t2==kv[0][0]), kv[0][0], -kv[1])):
    print(f"{t:14s} {s:48s} {100*c/total:5.1f}%  {cpu*c/total:6.0f} us")
print("samples", total)
