#!/usr/bin/python3
"""Independent DKIM/ARC signer for the tests (dkimpy, Debian python3-dkim). Run with /usr/bin/python3.

  keygen rsa BITS        -> line 1: private key PEM (base64 of PEM, one line), line 2: p= value
  keygen ed25519         -> line 1: private seed (base64), line 2: p= value
  sign SELECTOR DOMAIN KEYFILE ALG CANON [length] [identity=..] [headers=a:b]   (message on stdin, signed message on stdout)
  arcsign SELECTOR DOMAIN KEYFILE SRVID      (message on stdin; ARC set added on top)
  verify                 (message on stdin; DNS from env DKIMTOOL_TXT="name=txt|name=txt"; one line per
                         DKIM-Signature, top to bottom: "d=DOMAIN s=SELECTOR a=ALGORITHM pass|fail")
"""
import base64, os, sys
import dkim


def keygen(kind, bits=2048):
    if kind == "rsa":
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives import serialization
        key = rsa.generate_private_key(public_exponent=65537, key_size=int(bits))
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
        pub = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        print(base64.b64encode(pem).decode())
        print(base64.b64encode(pub).decode())
    else:
        import nacl.signing
        sk = nacl.signing.SigningKey.generate()
        print(base64.b64encode(bytes(sk)).decode())
        print(base64.b64encode(bytes(sk.verify_key)).decode())


def read_key(path):
    with open(path, "rb") as f:
        return f.read()


def sign(selector, domain, keyfile, alg, canon, *extra):
    msg = sys.stdin.buffer.read()
    length = "length" in extra
    identity = None
    headers = None
    for e in extra:
        if e.startswith("identity="):
            identity = e[len("identity="):].encode()
        if e.startswith("headers="):
            headers = [h.encode() for h in e[len("headers="):].split(":")]
    h, b = canon.split("/")
    sig = dkim.sign(msg, selector.encode(), domain.encode(), read_key(keyfile), identity=identity,
                    canonicalize=(h.encode(), b.encode()), signature_algorithm=alg.encode(),
                    include_headers=headers, length=length)
    sys.stdout.buffer.write(sig + msg)


def arcsign(selector, domain, keyfile, srvid):
    msg = sys.stdin.buffer.read()
    sets = dkim.arc_sign(msg, selector.encode(), domain.encode(), read_key(keyfile), srvid.encode(),
                         signature_algorithm=b"rsa-sha256")
    sys.stdout.buffer.write(b"".join(sets) + msg)


def verify():
    msg = sys.stdin.buffer.read()
    records = dict(kv.split("=", 1) for kv in os.environ.get("DKIMTOOL_TXT", "").split("|") if kv)
    def dnsfunc(name, timeout=5):
        return records.get(name.decode().rstrip("."), "").encode()
    values = [v for n, v in dkim.DKIM(msg).headers if n.lower() == b"dkim-signature"]
    for i, value in enumerate(values):
        try:
            verdict = "pass" if dkim.DKIM(msg).verify(idx=i, dnsfunc=dnsfunc) else "fail"
        except dkim.DKIMException as e:
            verdict = "permerror: %s" % e
        tags = dkim.util.parse_tag_value(value)
        print("d=%s s=%s a=%s %s" % (tags[b"d"].decode(), tags[b"s"].decode(), tags[b"a"].decode(), verdict))


def corpus(selector, domain, keyfile, alg, count, size, outdir):
    """Writes COUNT signed messages of about SIZE bytes to OUTDIR (for the benchmark)."""
    import random
    random.seed(42)
    key = read_key(keyfile)
    words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore".split()
    os.makedirs(outdir, exist_ok=True)
    for i in range(int(count)):
        lines = []
        body_len = 0
        while body_len < int(size) - 600:
            line = " ".join(random.choice(words) for _ in range(11))
            lines.append(line)
            body_len += len(line) + 2
        msg = ("From: Sender <sender@%s>\r\nTo: rcpt@example.net\r\nSubject: bench message %d\r\n"
               "Date: Sat, 28 Nov 2026 12:00:00 +0000\r\nMessage-ID: <bench%d@%s>\r\n\r\n%s\r\n"
               % (domain, i, i, domain, "\r\n".join(lines))).encode()
        sig = dkim.sign(msg, selector.encode(), domain.encode(), key, canonicalize=(b"relaxed", b"relaxed"),
                        signature_algorithm=alg.encode())
        with open(os.path.join(outdir, "%04d.eml" % i), "wb") as f:
            f.write(sig + msg)


def verify_dir(indir, txt_env, seconds="5"):
    """dkimpy verification rate over a directory for at least SECONDS, DNS answered from a dict (a warm cache).
    Prints: messages, how many verify, verifications timed, elapsed seconds, process CPU seconds."""
    import time, glob
    records = dict(kv.split("=", 1) for kv in txt_env.split("|"))
    def dnsfunc(name, timeout=5):
        return records.get(name.decode().rstrip("."), "").encode()
    files = sorted(glob.glob(os.path.join(indir, "*.eml")))
    msgs = [open(f, "rb").read() for f in files]
    ok = sum(1 for m in msgs if dkim.verify(m, dnsfunc=dnsfunc))  # warm-up, and proof the corpus verifies
    count = 0
    cpu = time.process_time()
    start = time.perf_counter()
    while time.perf_counter() - start < float(seconds):
        for m in msgs:
            dkim.verify(m, dnsfunc=dnsfunc)
            count += 1
    elapsed = time.perf_counter() - start
    print("%d %d %d %.6f %.6f" % (len(msgs), ok, count, elapsed, time.process_time() - cpu))


def bodyhash(canon, length="-"):
    # dkimpy's own body canonicalization of the message on stdin: base64 SHA-256 of at most l= bytes, and the
    # canonical length.
    import base64, hashlib
    from dkim.canonicalization import CanonicalizationPolicy
    _, body = dkim.rfc822_parse(sys.stdin.buffer.read())
    canonical = CanonicalizationPolicy.from_c_value(b"simple/" + canon.encode()).canonicalize_body(body)
    signed = canonical if length == "-" else canonical[:int(length)]
    print(base64.b64encode(hashlib.sha256(signed).digest()).decode(), len(canonical))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"keygen": keygen, "sign": sign, "verify": verify, "arcsign": arcsign, "corpus": corpus, "verify-dir": verify_dir, "bodyhash": bodyhash}[cmd](*args)
