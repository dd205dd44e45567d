//! Failures, retries, stale results, cancellation, leases and release, on both backends.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tasker_domain::StepState;
use tasker_orchestration::{ErrorCode, RecordOutcome};

backend_tests!(
    retryable_failure_waits_out_the_step_backoff,
    task_waits_for_retry_once_running_siblings_finish,
    exhausted_retries_fail_the_task_and_cancel_unstarted_steps,
    running_sibling_of_a_failed_task_is_not_retried,
    permanent_failure_errors_on_the_first_attempt,
    retry_after_sets_the_exact_delay,
    stale_results_are_ignored,
    cancel_task_cancels_steps_and_makes_results_stale,
    expired_leases_are_reaped_as_failed_attempts,
    renewed_leases_are_not_reaped,
    release_returns_a_step_without_consuming_the_attempt,
    released_step_of_a_failed_task_is_not_run_again,
    a_task_marked_waiting_while_a_step_ran_completes,
);

/// Two independent steps; `a` retries after 300 ms (linear, before jitter).
const PAIR: &str = r#"
name: pair
namespace_name: test
version: 1.0.0
steps:
  - name: a
    handler: { callable: Pair.A }
    retry: { max_attempts: 3, backoff: linear, backoff_base_ms: 300, max_backoff_ms: 1000 }
  - name: b
    handler: { callable: Pair.B }
"#;

/// `first` has two attempts and no backoff; `sibling` runs beside it, `after` after it.
const FRAGILE: &str = r#"
name: fragile
namespace_name: test
version: 1.0.0
steps:
  - name: first
    handler: { callable: Fragile.First }
    retry: { max_attempts: 2, backoff_base_ms: 0 }
  - name: sibling
    handler: { callable: Fragile.Sibling }
  - name: after
    dependencies: [first]
    handler: { callable: Fragile.After }
"#;

/// Three steps that run at once; `a` is not retryable, `c` retries at once; `d` follows `b`.
const RACE: &str = r#"
name: race
namespace_name: test
version: 1.0.0
steps:
  - name: a
    handler: { callable: Race.A }
    retry: { retryable: false, max_attempts: 1 }
  - name: b
    handler: { callable: Race.B }
  - name: c
    handler: { callable: Race.C }
    retry: { max_attempts: 3, backoff_base_ms: 0 }
  - name: d
    dependencies: [b]
    handler: { callable: Race.D }
"#;

/// When the next step for `callable` becomes ready, on this host's clock: the engine answers
/// "in so many ms" by the database's clock, so the time lies within the range of host times
/// during the question (the same clock on one host).
async fn next_ready(
    engine: &tasker_orchestration::Engine,
    callable: &str,
) -> Option<std::ops::RangeInclusive<i64>> {
    let asked = now_ms();
    let due_in = engine
        .next_ready_in(&[callable.to_string()])
        .await
        .expect("next_ready_in")?;
    let answered = now_ms();
    Some(asked + due_in as i64..=answered + due_in as i64)
}

async fn retryable_failure_waits_out_the_step_backoff(db: TestDb) {
    let engine = engine(&db, &[("flaky.yaml", FLAKY)]).await;
    let task = create(&engine, "flaky", json!({})).await;
    let flaky = &["Flaky.Run"];

    for attempt in 1..=2i64 {
        let c = claim_one(&engine, flaky, "w1").await;
        assert_eq!((c.attempt, c.max_attempts), (attempt, 3));
        assert_eq!(payload(&c)["step"]["attempts"], json!(attempt - 1));
        let t = details(&engine, &task.task_uuid).await;
        assert_eq!(t.state, "steps_in_process");
        assert_eq!(step(&t, "flaky").attempts, attempt);

        let before = now_ms();
        let r = record(&engine, failure(&c, true, None)).await;
        let after = now_ms();
        assert_eq!(
            r,
            RecordOutcome::Recorded {
                step_uuid: c.step_uuid.clone(),
                state: StepState::WaitingForRetry
            }
        );
        // Linear backoff: 200 ms × attempt, jittered down by at most 15 %.
        let full = 200 * attempt;
        let min = full * 85 / 100;
        let ready_at = next_ready(&engine, "Flaky.Run").await.expect("ready_at");
        assert!(
            *ready_at.end() >= before + min && *ready_at.start() <= after + full,
            "attempt {attempt}: ready_at is now{:+} ms, expected {min}..={full}",
            ready_at.start() - before
        );
        let t = details(&engine, &task.task_uuid).await;
        assert_eq!(t.state, "waiting_for_retry", "nothing else is active");
        let s = step(&t, "flaky");
        assert_eq!(
            (s.state.as_str(), s.attempts),
            ("waiting_for_retry", attempt)
        );
        let err = s.error.as_ref().expect("error stored");
        assert_eq!(err["message"], json!(format!("boom on attempt {attempt}")));
        assert_eq!(err["error_type"], json!("TestError"));
        assert_eq!(err["retryable"], json!(true));
        assert_eq!(err["attempt"], json!(attempt));
        let last = *step_transitions(&t, "flaky").last().unwrap();
        assert_eq!(
            (last.from_state.as_deref(), last.to_state.as_str()),
            (Some("in_progress"), "waiting_for_retry")
        );
        assert_eq!(last.worker_id.as_deref(), Some("w1"));
        let reason = last.reason.as_deref().unwrap();
        assert!(
            reason.starts_with(&format!(
                "attempt {attempt} of 3 failed (TestError: boom on attempt {attempt}); retrying in "
            )),
            "{reason}"
        );
        let task_last = *task_transitions(&t).last().unwrap();
        assert_eq!(moves(&[task_last]), ["steps_in_process->waiting_for_retry"]);
        assert!(
            task_last
                .reason
                .as_deref()
                .unwrap()
                .starts_with("step 'flaky' waits "),
            "{:?}",
            task_last.reason
        );
        assert!(
            task_last
                .reason
                .as_deref()
                .unwrap()
                .ends_with(&format!(" ms before attempt {}", attempt + 1)),
            "{:?}",
            task_last.reason
        );

        // Not claimable before its time ...
        assert!(claim(&engine, flaky, 10, "w1").await.is_empty());
        // ... and claimable once it has come.
        sleep_until_ms(*ready_at.end()).await;
    }

    let c = claim_one(&engine, flaky, "w1").await;
    assert_eq!(c.attempt, 3);
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "steps_in_process", "back to work when reclaimed");
    let last = *task_transitions(&t).last().unwrap();
    assert_eq!(moves(&[last]), ["waiting_for_retry->steps_in_process"]);
    assert_eq!(last.reason.as_deref(), Some("a step is being retried"));
    let retry_claim = step_transitions(&t, "flaky")
        .into_iter()
        .rfind(|t| t.to_state == "in_progress")
        .unwrap();
    assert_eq!(retry_claim.from_state.as_deref(), Some("waiting_for_retry"));
    assert_eq!(retry_claim.reason.as_deref(), Some("attempt 3 of 3"));

    record(&engine, success(&c, json!("finally"))).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "complete");
    let s = step(&t, "flaky");
    assert_eq!((s.state.as_str(), s.attempts), ("complete", 3));
    assert_eq!(json_of(&s.result), Some(json!("finally")));
    assert_eq!(s.error, None, "a success clears the last error");
    assert_eq!(
        moves(&task_transitions(&t)),
        [
            "-->pending",
            "pending->steps_in_process",
            "steps_in_process->waiting_for_retry",
            "waiting_for_retry->steps_in_process",
            "steps_in_process->waiting_for_retry",
            "waiting_for_retry->steps_in_process",
            "steps_in_process->complete",
        ]
    );
}

async fn task_waits_for_retry_once_running_siblings_finish(db: TestDb) {
    let engine = engine(&db, &[("pair.yaml", PAIR)]).await;
    let task = create(&engine, "pair", json!({})).await;
    let claimed = claim_all(&engine, &["Pair.A", "Pair.B"]).await;
    assert_eq!(claimed.len(), 2);
    let (a, b) = (&claimed[0], &claimed[1]);

    record(&engine, failure(a, true, None)).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "a").state, "waiting_for_retry");
    assert_eq!(t.state, "steps_in_process", "b is still running");

    // b finishes while a waits out its backoff: nothing is active any more.
    record(&engine, success(b, json!("b"))).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "a").state, "waiting_for_retry");
    assert_eq!(
        t.state, "waiting_for_retry",
        "the only unfinished step waits for its retry, so the task does too"
    );

    let ready_at = next_ready(&engine, "Pair.A").await.unwrap();
    sleep_until_ms(*ready_at.end()).await;
    let a2 = claim_one(&engine, &["Pair.A", "Pair.B"], "w1").await;
    assert_eq!((a2.step_name.as_str(), a2.attempt), ("a", 2));
    assert_eq!(
        details(&engine, &task.task_uuid).await.state,
        "steps_in_process"
    );
    record(&engine, success(&a2, json!("a"))).await;
    assert_eq!(details(&engine, &task.task_uuid).await.state, "complete");
}

async fn exhausted_retries_fail_the_task_and_cancel_unstarted_steps(db: TestDb) {
    let engine = engine(&db, &[("fragile.yaml", FRAGILE)]).await;
    let task = create(&engine, "fragile", json!({})).await;
    let first = &["Fragile.First"];

    let c1 = claim_one(&engine, first, "w1").await;
    record(&engine, failure(&c1, true, None)).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "first").state, "waiting_for_retry");
    assert_eq!(
        t.state, "steps_in_process",
        "the enqueued sibling keeps the task in process"
    );

    // No backoff: claimable again at once.
    let c2 = claim_one(&engine, first, "w1").await;
    assert_eq!(c2.attempt, 2);
    let r = record(&engine, failure(&c2, true, None)).await;
    assert_eq!(
        r,
        RecordOutcome::Recorded {
            step_uuid: c2.step_uuid.clone(),
            state: StepState::Error
        }
    );

    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "error");
    assert!(t.completed_at.is_some());
    assert_eq!(
        step_states(&t),
        states(&[
            ("first", "error"),
            ("sibling", "cancelled"),
            ("after", "cancelled")
        ])
    );
    let s = step(&t, "first");
    assert_eq!((s.attempts, s.max_attempts), (2, 2));
    assert_eq!(s.error.as_ref().unwrap()["attempt"], json!(2));
    assert_eq!(
        s.error.as_ref().unwrap()["message"],
        json!("boom on attempt 2")
    );

    let failed = *step_transitions(&t, "first").last().unwrap();
    assert_eq!(moves(&[failed]), ["in_progress->error"]);
    assert_eq!(
        failed.reason.as_deref(),
        Some("attempt 2 of 2 failed; no attempts left (TestError: boom on attempt 2)")
    );
    let why = "step 'first' failed permanently: boom on attempt 2";
    let task_last = *task_transitions(&t).last().unwrap();
    assert_eq!(moves(&[task_last]), ["steps_in_process->error"]);
    assert_eq!(task_last.reason.as_deref(), Some(why));
    for (name, from) in [("sibling", "enqueued"), ("after", "pending")] {
        let last = *step_transitions(&t, name).last().unwrap();
        assert_eq!(moves(&[last]), [format!("{from}->cancelled")]);
        assert_eq!(last.reason.as_deref(), Some(why));
    }
    assert!(claim(
        &engine,
        &["Fragile.First", "Fragile.Sibling", "Fragile.After"],
        10,
        "w1"
    )
    .await
    .is_empty());
}

async fn running_sibling_of_a_failed_task_is_not_retried(db: TestDb) {
    let engine = engine(&db, &[("race.yaml", RACE)]).await;
    let task = create(&engine, "race", json!({})).await;
    let all = &["Race.A", "Race.B", "Race.C", "Race.D"];
    let claimed = claim_all(&engine, all).await;
    let names: Vec<&str> = claimed.iter().map(|c| c.step_name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    let (a, b, c) = (&claimed[0], &claimed[1], &claimed[2]);

    // `a` is not retryable: the task fails at once, while b and c are still running.
    let r = record(&engine, failure(a, true, None)).await;
    assert!(matches!(
        r,
        RecordOutcome::Recorded {
            state: StepState::Error,
            ..
        }
    ));
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "error");
    assert_eq!(
        step_transitions(&t, "a").last().unwrap().reason.as_deref(),
        Some("the step is not retryable (retry.retryable: false) (TestError: boom on attempt 1)")
    );
    assert_eq!(
        step_states(&t),
        states(&[
            ("a", "error"),
            ("b", "in_progress"),
            ("c", "in_progress"),
            ("d", "cancelled")
        ])
    );

    // A running sibling finishes and is recorded; nothing follows it.
    let r = record(&engine, success(b, json!("b"))).await;
    assert!(matches!(
        r,
        RecordOutcome::Recorded {
            state: StepState::Complete,
            ..
        }
    ));
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "error");
    assert_eq!(step(&t, "b").state, "complete");
    assert_eq!(step(&t, "d").state, "cancelled");

    // A running sibling that fails must not be scheduled for another attempt: its task has
    // already failed, so nothing of it may run again.
    record(&engine, failure(c, true, None)).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "error");
    assert!(
        claim(&engine, all, 10, "w1").await.is_empty(),
        "a step of a failed task was handed out again"
    );
    let s = step(&t, "c");
    assert_eq!(
        (s.state.as_str(), s.attempts),
        ("error", 1),
        "a step of a task in error was scheduled for a retry"
    );
    assert_eq!(
        s.error.as_ref().unwrap()["message"],
        json!("boom on attempt 1")
    );
    let last = *step_transitions(&t, "c").last().unwrap();
    assert_eq!(moves(&[last]), ["in_progress->error"]);
    assert_eq!(
        moves(&task_transitions(&t)),
        [
            "-->pending",
            "pending->steps_in_process",
            "steps_in_process->error"
        ],
        "the task fails once"
    );
}

async fn permanent_failure_errors_on_the_first_attempt(db: TestDb) {
    let engine = engine(&db, &[("flaky.yaml", FLAKY)]).await;
    let task = create(&engine, "flaky", json!({})).await;
    let c = claim_one(&engine, &["Flaky.Run"], "w1").await;
    let r = record(&engine, failure(&c, false, None)).await;
    assert_eq!(
        r,
        RecordOutcome::Recorded {
            step_uuid: c.step_uuid.clone(),
            state: StepState::Error
        }
    );
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "error");
    assert!(t.completed_at.is_some());
    let s = step(&t, "flaky");
    assert_eq!(
        (s.state.as_str(), s.attempts, s.max_attempts),
        ("error", 1, 3)
    );
    assert_eq!(s.error.as_ref().unwrap()["retryable"], json!(false));
    assert_eq!(
        step_transitions(&t, "flaky")
            .last()
            .unwrap()
            .reason
            .as_deref(),
        Some("the handler reported a permanent failure (TestError: boom on attempt 1)")
    );
    assert_eq!(
        moves(&task_transitions(&t)),
        [
            "-->pending",
            "pending->steps_in_process",
            "steps_in_process->error"
        ]
    );
    assert_eq!(next_ready(&engine, "Flaky.Run").await, None);
    assert!(claim(&engine, &["Flaky.Run"], 10, "w1").await.is_empty());
}

async fn retry_after_sets_the_exact_delay(db: TestDb) {
    let engine = engine(&db, &[("flaky.yaml", FLAKY)]).await;
    let task = create(&engine, "flaky", json!({})).await;
    let c = claim_one(&engine, &["Flaky.Run"], "w1").await;
    let before = now_ms();
    record(&engine, failure(&c, true, Some(1500))).await;
    let after = now_ms();
    let ready_at = next_ready(&engine, "Flaky.Run").await.unwrap();
    assert!(
        *ready_at.end() >= before + 1500 && *ready_at.start() <= after + 1500,
        "ready_at is now{:+} ms, expected exactly +1500 (the step's own backoff is 170..=200)",
        ready_at.start() - before
    );
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "flaky").state, "waiting_for_retry");
    assert_eq!(
        step_transitions(&t, "flaky").last().unwrap().reason.as_deref(),
        Some(
            "attempt 1 of 3 failed (TestError: boom on attempt 1); retrying in 1500 ms (server-requested delay)"
        )
    );
    assert!(claim(&engine, &["Flaky.Run"], 10, "w1").await.is_empty());
}

async fn stale_results_are_ignored(db: TestDb) {
    let engine = engine(&db, &[("leased.yaml", LEASED)]).await;
    let task = create(&engine, "leased", json!({})).await;
    let work = &["Leased.Work"];
    let c1 = claim_one(&engine, work, "w1").await;
    let snapshot = details(&engine, &task.task_uuid).await;
    let transitions = snapshot.transitions.as_ref().unwrap().len();

    let check_unchanged = |t: &tasker_orchestration::TaskView, attempts: i64| {
        let s = step(t, "work");
        assert_eq!((s.state.as_str(), s.attempts), ("in_progress", attempts));
        assert_eq!(json_of(&s.result), None);
        assert_eq!(t.state, "steps_in_process");
    };

    // A claim id that never was.
    let mut bogus = success(&c1, json!("x"));
    bogus.claim_id = "not-a-claim".into();
    assert_eq!(
        record(&engine, bogus).await,
        RecordOutcome::Stale {
            step_uuid: c1.step_uuid.clone()
        }
    );
    // A task that does not exist.
    let mut wrong_task = success(&c1, json!("x"));
    wrong_task.task_uuid = "00000000-0000-0000-0000-000000000000".into();
    assert!(matches!(
        record(&engine, wrong_task).await,
        RecordOutcome::Stale { .. }
    ));
    let t = details(&engine, &task.task_uuid).await;
    check_unchanged(&t, 1);
    assert_eq!(t.transitions.as_ref().unwrap().len(), transitions);

    // An old claim after the step was retried.
    record(&engine, failure(&c1, true, None)).await;
    let c2 = claim_one(&engine, work, "w1").await;
    assert_ne!(c2.claim_id, c1.claim_id);
    let transitions = details(&engine, &task.task_uuid)
        .await
        .transitions
        .unwrap()
        .len();
    for old in [success(&c1, json!("late")), failure(&c1, false, None)] {
        assert_eq!(
            record(&engine, old).await,
            RecordOutcome::Stale {
                step_uuid: c1.step_uuid.clone()
            }
        );
    }
    let t = details(&engine, &task.task_uuid).await;
    check_unchanged(&t, 2);
    assert_eq!(t.transitions.as_ref().unwrap().len(), transitions);

    // In one batch, the stale result is skipped and the current one recorded.
    let out = engine
        .record_results(
            vec![success(&c1, json!("late")), success(&c2, json!("current"))],
            "w1",
        )
        .await
        .unwrap();
    assert_eq!(out.len(), 2);
    assert!(out.contains(&RecordOutcome::Stale {
        step_uuid: c1.step_uuid.clone()
    }));
    assert!(out.contains(&RecordOutcome::Recorded {
        step_uuid: c2.step_uuid.clone(),
        state: StepState::Complete
    }));
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "complete");
    assert_eq!(json_of(&step(&t, "work").result), Some(json!("current")));

    // A duplicate of the recorded result changes nothing.
    let n = t.transitions.as_ref().unwrap().len();
    assert!(matches!(
        record(&engine, success(&c2, json!("again"))).await,
        RecordOutcome::Stale { .. }
    ));
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(json_of(&step(&t, "work").result), Some(json!("current")));
    assert_eq!(t.transitions.as_ref().unwrap().len(), n);
}

async fn cancel_task_cancels_steps_and_makes_results_stale(db: TestDb) {
    let engine = engine(&db, &[("linear.yaml", LINEAR), ("single.yaml", SINGLE)]).await;
    let task = create(&engine, "linear", json!({})).await;
    let s1 = claim_one(&engine, LINEAR_CALLABLES, "w1").await;
    let mut cancellations = engine.subscribe_cancellations();

    let cancelled = engine
        .cancel_task(&task.task_uuid, Some("customer changed their mind"))
        .await
        .expect("cancel");
    assert_eq!(cancelled.state, "cancelled");
    assert!(cancelled.completed_at.is_some());
    assert_eq!(
        step_states(&cancelled),
        states(&[
            ("s1", "cancelled"),
            ("s2", "cancelled"),
            ("s3", "cancelled"),
            ("s4", "cancelled")
        ])
    );
    let last = *task_transitions(&cancelled).last().unwrap();
    assert_eq!(moves(&[last]), ["steps_in_process->cancelled"]);
    assert_eq!(last.reason.as_deref(), Some("customer changed their mind"));
    for (name, from) in [("s1", "in_progress"), ("s2", "pending"), ("s4", "pending")] {
        let last = *step_transitions(&cancelled, name).last().unwrap();
        assert_eq!(moves(&[last]), [format!("{from}->cancelled")]);
        assert_eq!(last.reason.as_deref(), Some("customer changed their mind"));
    }
    let heard = tokio::time::timeout(Duration::from_secs(2), cancellations.recv())
        .await
        .expect("cancellation announced")
        .unwrap();
    assert_eq!(heard, task.task_uuid);

    // The in-flight step's result arrives late: ignored.
    let n = cancelled.transitions.as_ref().unwrap().len();
    assert_eq!(
        record(&engine, success(&s1, json!("late"))).await,
        RecordOutcome::Stale {
            step_uuid: s1.step_uuid.clone()
        }
    );
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "s1").state, "cancelled");
    assert_eq!(json_of(&step(&t, "s1").result), None);
    assert_eq!(t.transitions.as_ref().unwrap().len(), n);
    assert!(claim(&engine, LINEAR_CALLABLES, 10, "w1").await.is_empty());

    // Cancelling again changes nothing.
    let again = engine.cancel_task(&task.task_uuid, None).await.unwrap();
    assert_eq!(again.state, "cancelled");
    assert_eq!(again.completed_at, t.completed_at);
    assert_eq!(again.transitions.as_ref().unwrap().len(), n);

    // Cancelling a complete task changes nothing.
    let done = create(&engine, "single", json!({})).await;
    let c = claim_one(&engine, &["Single.Only"], "w1").await;
    record(&engine, success(&c, json!(1))).await;
    let before = details(&engine, &done.task_uuid).await;
    assert_eq!(before.state, "complete");
    let after = engine
        .cancel_task(&done.task_uuid, Some("too late"))
        .await
        .unwrap();
    assert_eq!(after.state, "complete");
    assert_eq!(after.completed_at, before.completed_at);
    assert_eq!(step(&after, "only").state, "complete");
    assert_eq!(
        after.transitions.as_ref().unwrap().len(),
        before.transitions.as_ref().unwrap().len()
    );
    // ... and announces nothing about it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    while let Ok(t) = cancellations.try_recv() {
        assert_ne!(
            t, done.task_uuid,
            "a complete task was announced as cancelled"
        );
    }

    // The default reason, and an unknown task.
    let other = create(&engine, "single", json!({})).await;
    let c = engine.cancel_task(&other.task_uuid, None).await.unwrap();
    assert_eq!(
        task_transitions(&c).last().unwrap().reason.as_deref(),
        Some("cancelled by request")
    );
    let e = expect_err(engine.cancel_task("no-such-task", None).await);
    assert_eq!(e.code(), ErrorCode::TaskNotFound);
    assert_eq!(e.to_string(), "task no-such-task does not exist");
}

async fn expired_leases_are_reaped_as_failed_attempts(db: TestDb) {
    let engine = engine(&db, &[("leased.yaml", LEASED)]).await;
    let task = create(&engine, "leased", json!({})).await;
    let work = strings(&["Leased.Work"]);

    let c1 = engine.claim(&work, 1, "w1", 200).await.unwrap().remove(0);
    assert_eq!(
        engine.reap_expired_leases("reaper-w").await.unwrap(),
        0,
        "lease still valid"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(engine.reap_expired_leases("reaper-w").await.unwrap(), 1);
    assert_eq!(
        engine.reap_expired_leases("reaper-w").await.unwrap(),
        0,
        "reaped once"
    );

    let t = details(&engine, &task.task_uuid).await;
    let s = step(&t, "work");
    assert_eq!((s.state.as_str(), s.attempts), ("waiting_for_retry", 1));
    let err = s.error.as_ref().unwrap();
    assert_eq!(err["error_type"], json!("lease_expired"));
    assert_eq!(
        err["message"],
        json!("lease expired: worker w1 stopped renewing its claim during attempt 1 of 2 (crashed or hung)")
    );
    let last = *step_transitions(&t, "work").last().unwrap();
    assert_eq!(moves(&[last]), ["in_progress->waiting_for_retry"]);
    assert_eq!(last.worker_id.as_deref(), Some("reaper-w"));
    assert!(last
        .reason
        .as_deref()
        .unwrap()
        .contains("(lease_expired: lease expired"));

    // The step runs again; the first worker's late result is stale.
    let c2 = engine.claim(&work, 1, "w2", 200).await.unwrap().remove(0);
    assert_eq!(c2.attempt, 2);
    assert!(matches!(
        record(&engine, success(&c1, json!("late"))).await,
        RecordOutcome::Stale { .. }
    ));

    // The last attempt's lease expires too: no attempts left.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(engine.reap_expired_leases("reaper-w").await.unwrap(), 1);
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "error");
    let s = step(&t, "work");
    assert_eq!((s.state.as_str(), s.attempts), ("error", 2));
    let last = *step_transitions(&t, "work").last().unwrap();
    assert_eq!(moves(&[last]), ["in_progress->error"]);
    assert!(
        last.reason.as_deref().unwrap().starts_with(
            "attempt 2 of 2 failed; no attempts left (lease_expired: lease expired: worker w2"
        ),
        "{:?}",
        last.reason
    );
    assert!(matches!(
        record(&engine, success(&c2, json!("late"))).await,
        RecordOutcome::Stale { .. }
    ));
}

async fn renewed_leases_are_not_reaped(db: TestDb) {
    const LEASE_MS: u64 = 1_000;
    let engine = engine(&db, &[("leased.yaml", LEASED)]).await;
    let task = create(&engine, "leased", json!({})).await;
    let work = strings(&["Leased.Work"]);
    let c = engine
        .claim(&work, 1, "w1", LEASE_MS)
        .await
        .unwrap()
        .remove(0);

    // Renewed every 80 ms for twice the lease: never reaped. The lease leaves room for the
    // scheduling delays of a loaded machine running the suites in parallel.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2 * LEASE_MS) {
        tokio::time::sleep(Duration::from_millis(80)).await;
        let mine = [(c.step_uuid.clone(), c.claim_id.clone())];
        assert_eq!(
            engine.renew_leases("w1", &mine, LEASE_MS).await.unwrap(),
            mine
        );
        assert_eq!(engine.reap_expired_leases("reaper-w").await.unwrap(), 0);
    }
    assert_eq!(
        engine
            .renew_leases(
                "someone-else",
                &[(c.step_uuid.clone(), c.claim_id.clone())],
                LEASE_MS
            )
            .await
            .unwrap(),
        Vec::<(String, String)>::new(),
        "only the claimer's leases are renewed"
    );
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "work").state, "in_progress");
    assert_eq!(step(&t, "work").attempts, 1);

    // The claim is still current.
    let r = record(&engine, success(&c, json!("kept alive"))).await;
    assert!(matches!(
        r,
        RecordOutcome::Recorded {
            state: StepState::Complete,
            ..
        }
    ));
    assert_eq!(details(&engine, &task.task_uuid).await.state, "complete");
    assert_eq!(
        engine
            .renew_leases("w1", &[(c.step_uuid.clone(), c.claim_id.clone())], 200)
            .await
            .unwrap(),
        Vec::<(String, String)>::new(),
        "finished steps have no lease"
    );

    // And without renewal the same lease length does expire.
    let task = create(&engine, "leased", json!({})).await;
    engine
        .claim(&work, 1, "w1", LEASE_MS)
        .await
        .unwrap()
        .remove(0);
    tokio::time::sleep(Duration::from_millis(LEASE_MS + 100)).await;
    assert_eq!(engine.reap_expired_leases("reaper-w").await.unwrap(), 1);
    assert_eq!(
        step(&details(&engine, &task.task_uuid).await, "work").state,
        "waiting_for_retry"
    );
}

async fn release_returns_a_step_without_consuming_the_attempt(db: TestDb) {
    let engine = engine(&db, &[("leased.yaml", LEASED)]).await;
    let task = create(&engine, "leased", json!({})).await;
    let work = &["Leased.Work"];
    let c1 = claim_one(&engine, work, "w1").await;
    assert_eq!(c1.attempt, 1);

    let mut ready = engine.subscribe_steps_ready();
    ready.borrow_and_update();
    assert_eq!(
        engine
            .release(&[(c1.step_uuid.clone(), "wrong-claim".into())], "w1", "x")
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        engine
            .release(
                &[(c1.step_uuid.clone(), c1.claim_id.clone())],
                "w1",
                "shutting down"
            )
            .await
            .unwrap(),
        1
    );
    assert!(ready.has_changed().unwrap(), "released steps wake claimers");
    let t = details(&engine, &task.task_uuid).await;
    let s = step(&t, "work");
    assert_eq!((s.state.as_str(), s.attempts), ("enqueued", 0));
    assert_eq!(t.state, "steps_in_process");
    let last = *step_transitions(&t, "work").last().unwrap();
    assert_eq!(moves(&[last]), ["in_progress->enqueued"]);
    assert_eq!(last.worker_id.as_deref(), Some("w1"));
    assert_eq!(last.reason.as_deref(), Some("shutting down"));
    assert_eq!(
        engine
            .release(
                &[(c1.step_uuid.clone(), c1.claim_id.clone())],
                "w1",
                "again"
            )
            .await
            .unwrap(),
        0,
        "a claim is released once"
    );
    assert!(matches!(
        record(&engine, success(&c1, json!("late"))).await,
        RecordOutcome::Stale { .. }
    ));

    // Claimable at once, as the same first attempt.
    let c2 = claim_one(&engine, work, "w2").await;
    assert_ne!(c2.claim_id, c1.claim_id);
    assert_eq!((c2.attempt, c2.max_attempts), (1, 2));
    assert_eq!(payload(&c2)["step"]["attempts"], json!(0));
    // Both attempts are still available: a failure now is retried, not final.
    let r = record(&engine, failure(&c2, true, None)).await;
    assert!(matches!(
        r,
        RecordOutcome::Recorded {
            state: StepState::WaitingForRetry,
            ..
        }
    ));
}

async fn released_step_of_a_failed_task_is_not_run_again(db: TestDb) {
    let engine = engine(&db, &[("race.yaml", RACE)]).await;
    let task = create(&engine, "race", json!({})).await;
    let all = &["Race.A", "Race.B", "Race.C", "Race.D"];
    let claimed = claim_all(&engine, all).await;
    let (a, b) = (&claimed[0], &claimed[1]);
    assert_eq!((a.step_name.as_str(), b.step_name.as_str()), ("a", "b"));

    // `a` fails the task while `b` is still running; then b's worker shuts down and
    // releases it.
    record(&engine, failure(a, false, None)).await;
    assert_eq!(details(&engine, &task.task_uuid).await.state, "error");
    engine
        .release(
            &[(b.step_uuid.clone(), b.claim_id.clone())],
            "w1",
            "shutting down",
        )
        .await
        .unwrap();
    let again = claim(&engine, all, 10, "w2").await;
    assert!(
        again.is_empty(),
        "steps of a failed task were handed out again: {:?}",
        again.iter().map(|c| &c.step_name).collect::<Vec<_>>()
    );
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "error");
    assert_ne!(
        step(&t, "b").state,
        "enqueued",
        "a released step of a failed task is claimable again"
    );
}

/// A claim committed while another transaction found the task idle (PostgreSQL, two
/// transactions of one worker) leaves the task marked `waiting_for_retry` with a step running;
/// that step's result runs the task again instead of failing on an illegal transition.
async fn a_task_marked_waiting_while_a_step_ran_completes(db: TestDb) {
    let dir = TempDir::new();
    let db = TestDb {
        backend: db.backend,
        url: shared_url(&db, &dir),
    };
    let engine = engine(&db, &[("pair.yaml", PAIR)]).await;
    let task = create(&engine, "pair", json!({})).await;
    let claimed = claim_all(&engine, &["Pair.A", "Pair.B"]).await;
    let mut raw = RawConnection::open(&db.url).await;
    let sql = format!(
        "UPDATE {} SET state = 'waiting_for_retry' WHERE task_uuid = '{}'",
        raw.table("tasks"),
        task.task_uuid
    );
    raw.execute(&sql).await;
    for c in &claimed {
        record(&engine, success(c, json!({}))).await;
    }
    let v = details(&engine, &task.task_uuid).await;
    assert_eq!(v.state, "complete");
    let moves = moves(&task_transitions(&v));
    assert_eq!(
        moves[moves.len() - 2..],
        [
            "waiting_for_retry->steps_in_process",
            "steps_in_process->complete"
        ]
    );
}
