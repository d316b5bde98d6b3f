"""Revocation by jti and by subject, over real connections: in force exactly at commit, in
every session, without reconnecting; incremental refreshes that miss nothing."""

import threading
import time

import psycopg
import pytest
from conftest import HS_SECRET, claims, key_text, pyjwt_token

OTHER_SECRET = b"a-second-secret-of-32-bytes-long"


@pytest.fixture
def hs(db):
    db.sql("SELECT revocation.jwt_add_key('k', 'HS256', secret => %s)", (HS_SECRET,))
    db.sql("SELECT revocation.jwt_add_key('k2', 'HS256', secret => %s)", (OTHER_SECRET,))
    return db


def token(jti, **extra):
    return pyjwt_token(claims(jti=jti, **extra), HS_SECRET, "HS256", kid="k")


def verdict(conn, t):
    return conn.execute("SELECT active, reason FROM revocation.jwt_check(%s)", (t,)).fetchone()


def stats(conn):
    cur = conn.execute("SELECT * FROM revocation.cache_stats()")
    return dict(zip([c.name for c in cur.description], cur.fetchone()))


def test_in_force_at_commit_never_on_rollback(hs):
    t = token("j-commit")
    with hs.connect() as reader, hs.connect(autocommit=False) as revoker:
        assert verdict(reader, t) == (True, None)
        revoker.execute("SELECT revocation.jwt_revoke('j-commit')")
        assert verdict(reader, t) == (True, None)       # open transaction: not yet
        assert verdict(revoker, t) == (True, None)      # not in its own session either
        revoker.rollback()
        assert verdict(reader, t) == (True, None)       # rolled back: never
        revoker.execute("SELECT revocation.jwt_revoke('j-commit')")
        revoker.commit()
        assert verdict(reader, t) == (False, "revoked")  # the next call after COMMIT
        assert verdict(revoker, t) == (False, "revoked")
        with pytest.raises(psycopg.Error) as caught:
            reader.execute("SELECT revocation.jwt_verify(%s)", (t,))
        assert caught.value.sqlstate == "28J13"
        assert caught.value.diag.message_primary == "token has been revoked"
        assert caught.value.diag.message_detail == 'The token has jti "j-commit".'


def test_inside_a_readers_open_transaction(hs):
    """A reader in a long REPEATABLE READ transaction sees a revocation committed after its
    snapshot was taken."""
    t = token("j-rr")
    with hs.connect(autocommit=False) as reader, hs.connect() as revoker:
        reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        assert verdict(reader, t) == (True, None)
        revoker.execute("SELECT revocation.jwt_revoke('j-rr')")
        assert verdict(reader, t) == (False, "revoked")
        reader.rollback()


def test_revoking_twice_keeps_the_first_timestamp(hs):
    first = hs.one("SELECT revocation.jwt_revoke('j-twice', 'leaked')")
    time.sleep(0.01)
    second = hs.one("SELECT revocation.jwt_revoke('j-twice', 'again')")
    assert first == second
    assert hs.sql("SELECT reason, revoked_by FROM revocation.invalidated_tokens") \
        == [("leaked", "postgres")]


def test_reverse_order_commits_are_not_missed(hs):
    """T1 starts first, T2 revokes and commits, a reader refreshes, then T1 revokes and commits:
    the reader must still see T1's revocation."""
    a, b = token("j-a"), token("j-b")
    with hs.connect() as reader, hs.connect(autocommit=False) as t1, \
            hs.connect(autocommit=False) as t2:
        assert verdict(reader, a) == (True, None)
        t1.execute("SELECT txid_current()")             # T1 has started and holds an xid
        t2.execute("SELECT revocation.jwt_revoke('j-a')")
        t2.commit()
        assert verdict(reader, a) == (False, "revoked")  # refreshed up to T2's number
        t1.execute("SELECT revocation.jwt_revoke('j-b')")
        t1.commit()
        assert verdict(reader, b) == (False, "revoked")


def test_concurrent_revokers_commit_in_number_order(hs):
    """T1 revokes and holds its transaction open; T2 revokes meanwhile (and must wait for the
    counter); T1 commits, then T2: the reader sees both, each right after its commit."""
    a, b = token("j-first"), token("j-second")
    with hs.connect() as reader, hs.connect(autocommit=False) as t1, \
            hs.connect(autocommit=False) as t2:
        t1.execute("SELECT revocation.jwt_revoke('j-first')")
        done = threading.Event()

        def second():
            t2.execute("SELECT revocation.jwt_revoke('j-second')")
            done.set()

        worker = threading.Thread(target=second)
        worker.start()
        assert not done.wait(0.5)                       # T2 waits on the counter row
        assert verdict(reader, b) == (True, None)
        t1.commit()
        worker.join(10)
        assert done.is_set()
        assert verdict(reader, a) == (False, "revoked")
        assert verdict(reader, b) == (True, None)       # T2 has not committed yet
        t2.commit()
        assert verdict(reader, b) == (False, "revoked")
        seqs = hs.sql("SELECT jti, seq FROM revocation.invalidated_tokens ORDER BY seq")
        assert [j for j, _ in seqs] == ["j-first", "j-second"]


def test_refresh_reads_only_what_changed(hs):
    for i in range(50):
        hs.sql("SELECT revocation.jwt_revoke(%s)", (f"bulk-{i}",))
    with hs.connect() as reader:
        verdict(reader, token("live"))
        before = stats(reader)
        assert before["revoked_jtis"] == 50
        hs.sql("SELECT revocation.jwt_revoke('one-more')")
        assert verdict(reader, token("one-more")) == (False, "revoked")
        after = stats(reader)
        assert after["refreshes"] == before["refreshes"] + 1
        assert after["full_loads"] == before["full_loads"]
        assert after["revoked_jtis"] == 51
        assert after["generation"] == hs.one("SELECT generation FROM revocation.generation")
        for _ in range(100):
            verdict(reader, token("live"))
        assert stats(reader)["refreshes"] == after["refreshes"]   # nothing changed, no refresh


def test_deleting_a_revocation_reloads_everything(hs):
    t = token("j-undo")
    hs.sql("SELECT revocation.jwt_revoke('j-undo')")
    with hs.connect() as reader:
        assert verdict(reader, t) == (False, "revoked")
        full = stats(reader)["full_loads"]
        hs.sql("DELETE FROM revocation.invalidated_tokens WHERE jti = 'j-undo'")
        assert verdict(reader, t) == (True, None)
        assert stats(reader)["full_loads"] == full + 1


@pytest.mark.parametrize("expired", ["23 hours", "290 seconds", "0 seconds", None])
def test_deleting_a_row_a_backend_may_hold_reloads_everything(hs, expired):
    """Only rows of tokens that expired more than a day ago can go unnoticed (a statement still
    running may judge by an older clock); a row of the last day, a live one, or one of unknown
    expiry moves the epoch, even beside long-expired rows."""
    hs.sql("INSERT INTO revocation.invalidated_tokens (jti, expires_at) VALUES "
           "('long-gone', now() - interval '1 day 1 minute'), "
           "('undone', now() - %s::interval)", (expired,))
    # A token this session still holds (within the largest leeway, or of unknown expiry).
    held = expired != "23 hours"
    t = token("undone", exp=int(time.time()) + 600)
    with hs.connect() as reader:
        assert verdict(reader, t) == ((False, "revoked") if held else (True, None))
        full = stats(reader)["full_loads"]
        epoch = hs.one("SELECT epoch FROM revocation.generation")
        hs.sql("DELETE FROM revocation.invalidated_tokens")
        assert hs.one("SELECT epoch FROM revocation.generation") == epoch + 1
        assert verdict(reader, t) == (True, None)
        assert stats(reader)["full_loads"] == full + 1


def test_deleting_only_rows_expired_a_day_ago_reloads_nothing(hs):
    hs.sql("INSERT INTO revocation.invalidated_tokens (jti, expires_at) VALUES "
           "('long-gone', now() - interval '1 day 1 minute')")
    hs.sql("SELECT revocation.jwt_revoke('live')")
    with hs.connect() as reader:
        assert verdict(reader, token("live")) == (False, "revoked")
        full = stats(reader)["full_loads"]
        epoch = hs.one("SELECT epoch FROM revocation.generation")
        hs.sql("DELETE FROM revocation.invalidated_tokens WHERE jti = 'long-gone'")
        assert hs.one("SELECT epoch FROM revocation.generation") == epoch
        assert verdict(reader, token("live")) == (False, "revoked")
        assert stats(reader)["full_loads"] == full


def test_truncating_revocations_reloads_everything(hs):
    hs.sql("SELECT revocation.jwt_revoke('j-truncated')")
    hs.sql("SELECT revocation.jwt_revoke_subject('bob')")
    t = token("j-truncated")
    bob = token("j-bob", sub="bob", iat=int(time.time()) - 60)
    with hs.connect() as reader:
        assert verdict(reader, t) == (False, "revoked")
        assert verdict(reader, bob) == (False, "revoked")
        full = stats(reader)["full_loads"]
        hs.sql("TRUNCATE revocation.invalidated_tokens")
        assert verdict(reader, t) == (True, None)
        assert verdict(reader, bob) == (False, "revoked")
        hs.sql("TRUNCATE revocation.invalidated_subjects")
        assert verdict(reader, bob) == (True, None)
        assert stats(reader)["full_loads"] == full + 2


def test_expired_revocations_are_not_held(hs):
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        hs.sql("SELECT revocation.jwt_revoke('old', expires_at => now() - interval '1 hour')")
    # As a restore would bring it: a row whose token expired long ago.
    hs.sql("INSERT INTO revocation.invalidated_tokens (jti, expires_at) "
           "VALUES ('old', now() - interval '1 hour')")
    hs.sql("SELECT revocation.jwt_revoke('live', expires_at => now() + interval '1 hour')")
    hs.sql("SELECT revocation.jwt_revoke('unknown')")
    with hs.connect() as reader:
        s = stats(reader)
        assert (s["revoked_jtis"], s["generation"]) == (2, 3)
        assert verdict(reader, token("live")) == (False, "revoked")
        assert verdict(reader, token("unknown")) == (False, "revoked")


def test_revoke_token_checks_the_signature_first(hs):
    exp = int(time.time()) + 900
    good = token("j-self", exp=exp)
    at = hs.one("SELECT revocation.jwt_revoke_token(%s, 'logout')", (good,))
    row = hs.sql("SELECT jti, reason, expires_at = to_timestamp(%s), invalidated_at = %s "
                 "FROM revocation.invalidated_tokens", (exp, at))
    assert row == [("j-self", "logout", True, True)]
    forged = pyjwt_token(claims(jti="j-forged"), b"x" * 32, "HS256", kid="k")
    with pytest.raises(psycopg.Error) as caught:
        hs.sql("SELECT revocation.jwt_revoke_token(%s)", (forged,))
    assert caught.value.sqlstate == "28J06"
    assert hs.one("SELECT count(*) FROM revocation.invalidated_tokens") == 1
    # A token expired beyond any leeway needs no revocation: nothing is recorded.
    expired = token("j-expired", exp=1000)
    assert hs.one("SELECT revocation.jwt_revoke_token(%s)", (expired,)) is None
    assert hs.one("SELECT count(*) FROM revocation.invalidated_tokens") == 1


def test_a_revoked_jti_stays_revoked_when_re_signed(hs):
    payload = claims(jti="j-resign")
    first = pyjwt_token(payload, HS_SECRET, "HS256", kid="k")
    again = pyjwt_token(payload, OTHER_SECRET, "HS256", kid="k2")
    hs.sql("SELECT revocation.jwt_revoke('j-resign')")
    with hs.connect() as reader:
        assert verdict(reader, first) == (False, "revoked")
        assert verdict(reader, again) == (False, "revoked")


def test_the_other_ecdsa_signature_of_a_revoked_token(hs):
    """(r, s) and (r, n - s) are both valid ECDSA signatures of the same token; the second is
    still revoked, because revocation is by jti, not by token text."""
    import base64
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256 order
    hs.sql("SELECT revocation.jwt_add_key('ec', 'ES256', public_key => %s)",
           (key_text("p256.pub"),))
    t = pyjwt_token(claims(jti="j-ec"), key_text("p256.key"), "ES256", kid="ec")
    head, sig = t.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    r, s = raw[:32], int.from_bytes(raw[32:], "big")
    twin_sig = base64.urlsafe_b64encode(r + (n - s).to_bytes(32, "big")).rstrip(b"=").decode()
    twin = f"{head}.{twin_sig}"
    assert twin != t
    with hs.connect() as reader:
        assert verdict(reader, twin) == (True, None)   # the twin is a valid signature
        hs.sql("SELECT revocation.jwt_revoke('j-ec')")
        assert verdict(reader, t) == (False, "revoked")
        assert verdict(reader, twin) == (False, "revoked")


def test_log_out_everywhere(hs):
    now = int(time.time())
    old = token("j-old", sub="carol", iat=now - 60)
    no_iat = pyjwt_token({"sub": "carol", "jti": "j-noiat", "exp": now + 600}, HS_SECRET,
                         "HS256", kid="k")
    other = token("j-dave", sub="dave", iat=now - 60)
    with hs.connect() as reader:
        assert verdict(reader, old) == (True, None)
        hs.sql("SELECT revocation.jwt_revoke_subject('carol', to_timestamp(%s))", (now - 10,))
        assert verdict(reader, old) == (False, "revoked")
        assert verdict(reader, no_iat) == (False, "revoked")
        assert verdict(reader, other) == (True, None)
        newer = token("j-new", sub="carol", iat=now)
        assert verdict(reader, newer) == (True, None)
        # Moving the cut-off forward takes effect; moving it back does not.
        hs.sql("SELECT revocation.jwt_revoke_subject('carol', to_timestamp(%s))", (now + 1,))
        assert verdict(reader, newer) == (False, "revoked")
        cutoff = hs.one("SELECT revocation.jwt_revoke_subject('carol', to_timestamp(0))")
        assert cutoff.timestamp() == now + 1
        assert verdict(reader, newer) == (False, "revoked")


def test_point_in_time(hs):
    hs.sql("UPDATE revocation.signing_keys SET usable_from = now() - interval '1 day'")
    t = token("j-pit")
    revoked = hs.one("SELECT revocation.jwt_revoke('j-pit')")
    q = "SELECT active, reason FROM revocation.jwt_check(%s, at => %s::timestamptz + %s::interval)"
    assert hs.sql(q, (t, revoked, "-1 second")) == [(True, None)]
    assert hs.sql(q, (t, revoked, "0 seconds")) == [(False, "revoked")]
    assert hs.sql(q, (t, revoked, "1 second")) == [(False, "revoked")]


def test_require_jti(hs):
    bare = pyjwt_token({"sub": "x", "exp": int(time.time()) + 60}, HS_SECRET, "HS256", kid="k")
    with hs.connect() as conn:
        assert verdict(conn, bare) == (False, "jti_required")
        conn.execute("SET revocation.require_jti = off")
        assert verdict(conn, bare) == (True, None)


def test_revokers_need_a_grant(hs):
    role = f"{hs.name}_revoker"
    hs.sql(f"CREATE ROLE {role} LOGIN")
    try:
        with hs.connect(user=role) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT revocation.jwt_revoke('x')")
        hs.sql(f"""
            GRANT EXECUTE ON FUNCTION revocation.jwt_revoke(text, text, timestamptz),
                                      revocation.jwt_revoke_token(text, text),
                                      revocation._authentic_claims(text) TO {role};
            GRANT SELECT, INSERT (jti, reason, expires_at), UPDATE (expires_at)
                ON revocation.invalidated_tokens TO {role}""")
        with hs.connect(user=role) as conn:
            conn.execute("SELECT revocation.jwt_revoke('by-role')")
            conn.execute("SELECT revocation.jwt_revoke_token(%s)", (token("by-token"),))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("INSERT INTO revocation.invalidated_tokens (jti, revoked_by) "
                             "VALUES ('forged', 'someone-else')")
        assert hs.sql("SELECT jti, revoked_by FROM revocation.invalidated_tokens ORDER BY jti") \
            == [("by-role", role), ("by-token", role)]
    finally:
        hs.sql(f"DROP OWNED BY {role}")
        hs.sql(f"DROP ROLE {role}")


def test_a_later_expiry_for_the_same_jti_extends_the_hold(hs):
    """Revocation is by jti: a second token with the same jti and a later exp must stay
    refused after the first one's expiry, once either token is revoked with its expiry."""
    now = int(time.time())
    short = token("dup", exp=now + 2)
    long = token("dup", exp=now + 3600)
    hs.sql("SELECT revocation.jwt_revoke_token(%s)", (short,))
    hs.sql("SELECT revocation.jwt_revoke_token(%s)", (long,))
    assert hs.one("SELECT expires_at = to_timestamp(%s) FROM revocation.invalidated_tokens",
                  (now + 3600,)) is True
    # An expiry is never shortened, and an unknown one wins.
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation):
        hs.sql("UPDATE revocation.invalidated_tokens SET expires_at = '2000-01-01Z'")
    hs.sql("SELECT revocation.jwt_revoke('dup')")
    assert hs.one("SELECT expires_at FROM revocation.invalidated_tokens") is None
    with hs.connect() as reader:
        assert verdict(reader, long) == (False, "revoked")


def test_entries_are_held_for_the_largest_leeway(hs):
    """An entry is dropped only when its token has been expired longer than any leeway allows,
    so raising revocation.leeway cannot bring a revoked token back."""
    now = int(time.time())
    t = token("j-lw", exp=now - 3)
    hs.sql("SELECT revocation.jwt_revoke_token(%s)", (t,))
    with hs.connect() as conn:
        conn.execute("SET revocation.leeway = 0")
        assert verdict(conn, t) == (False, "expired")
        conn.execute("SET revocation.leeway = 120")
        assert verdict(conn, t) == (False, "revoked")
        assert stats(conn)["revoked_jtis"] == 1


def test_a_subjects_cut_off_never_moves_back(hs):
    role = f"{hs.name}_rev"
    hs.sql(f"CREATE ROLE {role} LOGIN")
    try:
        hs.sql(f"""
            GRANT EXECUTE ON FUNCTION revocation.jwt_revoke_subject(text, timestamptz, text)
                TO {role};
            GRANT SELECT, INSERT (sub, issued_before, reason), UPDATE (issued_before, reason,
                invalidated_at) ON revocation.invalidated_subjects TO {role}""")
        with hs.connect(user=role) as conn:
            conn.execute("SELECT revocation.jwt_revoke_subject('alice')")
            for change in ["issued_before = '1970-01-02Z'", "invalidated_at = now()"]:
                with pytest.raises(psycopg.errors.IntegrityConstraintViolation) as caught:
                    conn.execute(f"UPDATE revocation.invalidated_subjects SET {change} "
                                 "WHERE sub = 'alice'")
                column = change.split()[0]
                assert caught.value.diag.message_primary \
                    == f"column {column} of a subject's revocation cannot change"
            conn.execute("UPDATE revocation.invalidated_subjects SET reason = 'noted'")
        assert verdict(hs.connect(), token("j-al", sub="alice", iat=int(time.time()) - 60)) \
            == (False, "revoked")
    finally:
        hs.sql(f"DROP OWNED BY {role}")
        hs.sql(f"DROP ROLE {role}")


def test_a_numeric_sub_is_refused_not_let_past_subject_revocation(hs):
    hs.sql("SELECT revocation.jwt_revoke_subject('42')")
    t = pyjwt_token(claims(sub=42), HS_SECRET, "HS256", kid="k")
    assert verdict(hs.connect(), t) == (False, "invalid_claim")


def test_point_in_time_keeps_the_history_of_a_subject(hs):
    hs.sql("UPDATE revocation.signing_keys SET usable_from = now() - interval '1 day'")
    old = token("j-hist", sub="yan", iat=int(time.time()) - 3600)
    first = hs.one("SELECT revocation.jwt_revoke_subject('yan', now() - interval '30 minutes')")
    time.sleep(0.05)
    hs.sql("SELECT revocation.jwt_revoke_subject('yan')")
    rows = hs.sql("SELECT invalidated_at FROM revocation.invalidated_subjects "
                  "WHERE sub = 'yan' ORDER BY invalidated_at")
    assert len(rows) == 2 and first is not None
    between = rows[0][0] + (rows[1][0] - rows[0][0]) / 2
    # Between the two revocations the first cut-off was in force, and it covered this token.
    assert hs.sql("SELECT reason FROM revocation.jwt_check(%s, at => %s)", (old, between)) \
        == [("revoked",)]


def test_purge_deletes_only_rows_of_long_expired_tokens(hs):
    # As a restore would bring them: rows of tokens that expired 40 and 10 days ago.
    hs.sql("INSERT INTO revocation.invalidated_tokens (jti, expires_at) VALUES "
           "('expired-40d', now() - interval '40 days'), "
           "('expired-10d', now() - interval '10 days')")
    hs.sql("SELECT revocation.jwt_revoke('live', expires_at => now() + interval '1 hour')")
    hs.sql("SELECT revocation.jwt_revoke('unknown')")
    hs.sql("SELECT revocation.jwt_revoke_subject('bob')")
    with hs.connect() as reader:
        assert verdict(reader, token("live")) == (False, "revoked")
        full = stats(reader)["full_loads"]
        # The default keeps 30 days of history.
        assert hs.one("SELECT revocation.jwt_purge_revocations()") == 1
        assert hs.sql("SELECT jti FROM revocation.invalidated_tokens ORDER BY jti") \
            == [("expired-10d",), ("live",), ("unknown",)]
        assert hs.one("SELECT revocation.jwt_purge_revocations(now() - interval '2 days')") == 1
        assert hs.one("SELECT revocation.jwt_purge_revocations(now() - interval '2 days')") == 0
        assert hs.sql("SELECT jti FROM revocation.invalidated_tokens ORDER BY jti") \
            == [("live",), ("unknown",)]
        # What is still revoked stays revoked in the open session, which needed no reload: no
        # backend needs the rows of long-expired tokens.
        assert verdict(reader, token("live")) == (False, "revoked")
        assert verdict(reader, token("unknown")) == (False, "revoked")
        assert verdict(reader, token("j-bob", sub="bob", iat=int(time.time()) - 60)) \
            == (False, "revoked")
        assert stats(reader)["full_loads"] == full
    assert hs.one("SELECT count(*) FROM revocation.invalidated_subjects") == 1


def test_purge_keeps_the_last_days_rows(hs):
    """A statement judges tokens by its start time, within the leeway: one that began an hour
    ago may still need the row of a token that expired half an hour ago."""
    hs.sql("INSERT INTO revocation.invalidated_tokens (jti, expires_at) "
           "VALUES ('recent', now() - interval '23 hours')")
    with pytest.raises(psycopg.errors.InvalidParameterValue) as caught:
        hs.sql("SELECT revocation.jwt_purge_revocations(now() - interval '23 hours 59 minutes')")
    assert caught.value.diag.message_primary == "expired_before must be at least one day ago"
    assert hs.one("SELECT revocation.jwt_purge_revocations(now() - interval '1 day')") == 0
    assert hs.one("SELECT count(*) FROM revocation.invalidated_tokens") == 1
    with pytest.raises(psycopg.errors.NullValueNotAllowed):
        hs.sql("SELECT revocation.jwt_purge_revocations(NULL)")


def test_purging_needs_a_grant_and_nothing_more(hs):
    """The function runs as its owner: a role granted only EXECUTE purges what it purges, and
    cannot delete a live revocation itself."""
    role = f"{hs.name}_purger"
    hs.sql(f"CREATE ROLE {role} LOGIN")
    hs.sql("INSERT INTO revocation.invalidated_tokens (jti, expires_at) "
           "VALUES ('expired', now() - interval '40 days')")
    hs.sql("SELECT revocation.jwt_revoke('live', expires_at => now() + interval '1 hour')")
    try:
        with hs.connect(user=role) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT revocation.jwt_purge_revocations()")
        hs.sql(f"GRANT EXECUTE ON FUNCTION revocation.jwt_purge_revocations(timestamptz) "
               f"TO {role}")
        with hs.connect(user=role) as conn:
            assert conn.execute("SELECT revocation.jwt_purge_revocations()").fetchone() == (1,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM revocation.invalidated_tokens")
        assert hs.sql("SELECT jti FROM revocation.invalidated_tokens") == [("live",)]
    finally:
        hs.sql(f"DROP OWNED BY {role}")
        hs.sql(f"DROP ROLE {role}")


def test_deleting_a_subjects_cut_off_reloads_everything(hs):
    hs.sql("SELECT revocation.jwt_revoke_subject('bob')")
    bob = token("j-bob", sub="bob", iat=int(time.time()) - 60)
    with hs.connect() as reader:
        assert verdict(reader, bob) == (False, "revoked")
        full = stats(reader)["full_loads"]
        hs.sql("DELETE FROM revocation.invalidated_subjects WHERE sub = 'bob'")
        assert verdict(reader, bob) == (True, None)
        assert stats(reader)["full_loads"] == full + 1


def seqs(db, table="invalidated_tokens"):
    return {r[0] for r in db.sql(f"SELECT DISTINCT seq FROM revocation.{table}")}


def test_one_transaction_takes_one_number(hs):
    """A transaction's rows share one generation number, however many statements and rows: a
    restore of many rows costs one counter update, not one per row."""
    before = hs.one("SELECT generation FROM revocation.generation")
    with hs.connect(autocommit=False) as conn:
        conn.execute("SELECT revocation.jwt_revoke('one')")
        conn.execute("INSERT INTO revocation.invalidated_tokens (jti) "
                      "SELECT 'bulk-' || i FROM generate_series(1, 5000) i")
        conn.execute("SELECT revocation.jwt_revoke_subject('bob')")
        conn.commit()
    after = hs.one("SELECT generation FROM revocation.generation")
    assert after == before + 1
    assert seqs(hs) == {after} and seqs(hs, "invalidated_subjects") == {after}
    hs.sql("SELECT revocation.jwt_revoke('next')")
    assert hs.one("SELECT seq FROM revocation.invalidated_tokens WHERE jti = 'next'") == after + 1
    with hs.connect() as reader:
        assert stats(reader)["revoked_jtis"] == 5002
        assert verdict(reader, token("bulk-4321")) == (False, "revoked")


def test_a_number_taken_in_a_rolled_back_savepoint_is_not_reused(hs):
    """The savepoint that took the number rolls back, and its lock on the counter goes with
    it: another revoker takes the same number and commits first. The rest of the transaction
    must take a new number, or a session that has seen the other commit would miss its rows."""
    t = token("after-rollback")
    with hs.connect() as reader, hs.connect(autocommit=False) as conn:
        conn.execute("SAVEPOINT s")
        conn.execute("SELECT revocation.jwt_revoke('rolled-back')")
        taken = conn.execute("SELECT generation FROM revocation.generation").fetchone()[0]
        conn.execute("ROLLBACK TO SAVEPOINT s")
        with hs.connect() as other:                          # the lock went with the savepoint
            other.execute("SET lock_timeout = '5s'")
            other.execute("SELECT revocation.jwt_revoke('other')")
        assert hs.one("SELECT seq FROM revocation.invalidated_tokens WHERE jti = 'other'") \
            == taken
        assert verdict(reader, token("other")) == (False, "revoked")   # the reader saw it
        conn.execute("SELECT revocation.jwt_revoke('after-rollback')")
        conn.commit()
        assert hs.one("SELECT seq FROM revocation.invalidated_tokens "
                      "WHERE jti = 'after-rollback'") == taken + 1
        assert verdict(reader, t) == (False, "revoked")
