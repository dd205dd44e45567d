//! Schedules: registering, firing each fire time exactly once (also with several firers
//! racing), the missed-fire policies, and the messages for what cannot be registered.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tasker_orchestration::{
    schedule_idempotency_key, Engine, ErrorCode, Fired, ListTasks, Missed, ScheduleSpec,
};

backend_tests!(
    a_schedule_fires_each_fire_time_once,
    racing_firers_create_one_task_per_fire_time,
    missed_fire_times_follow_the_policy,
    registering_checks_the_template_and_keeps_the_fire_state,
    a_deleted_schedule_is_gone_and_fires_no_more,
);

fn every_second(name: &str, missed: Missed) -> ScheduleSpec {
    ScheduleSpec {
        name: name.to_string(),
        cron: "* * * * * *".to_string(),
        timezone: "UTC".to_string(),
        namespace: "test".to_string(),
        task_name: "single".to_string(),
        version: "1.0.0".to_string(),
        context: r#"{"from":"schedule"}"#.to_string(),
        missed,
    }
}

async fn fire(engine: &Engine, names: &[&str]) -> Vec<Fired> {
    let report = engine.fire_schedules(&strings(names)).await.expect("fire");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    report.fired
}

async fn scheduled_tasks(engine: &Engine) -> Vec<tasker_orchestration::TaskView> {
    engine
        .list_tasks(&ListTasks {
            namespace: Some("test".to_string()),
            limit: Some(1000),
            ..ListTasks::default()
        })
        .await
        .expect("list tasks")
}

/// Fire times one second apart, each once.
fn assert_consecutive(times: &[i64]) {
    for pair in times.windows(2) {
        assert_eq!(pair[1] - pair[0], 1000, "fire times {times:?}");
    }
}

async fn a_schedule_fires_each_fire_time_once(db: TestDb) {
    let engine = engine(&db, &[("single.yaml", SINGLE)]).await;
    engine
        .register_schedules(&[every_second("tick", Missed::Latest)])
        .await
        .expect("register");
    let mut fired = Vec::new();
    let until = Instant::now() + Duration::from_millis(3_300);
    while Instant::now() < until {
        let report = engine.fire_schedules(&strings(&["tick"])).await.unwrap();
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        let next = report.next_in_ms.expect("a next fire time");
        assert!((1..=1000).contains(&next), "next in {next} ms");
        fired.extend(report.fired);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let times: Vec<i64> = fired.iter().map(|f| f.fire_at).collect();
    assert!((3..=4).contains(&times.len()), "fired {times:?}");
    assert_consecutive(&times);
    assert!(
        times.iter().all(|t| t % 1000 == 0),
        "whole seconds: {times:?}"
    );

    let tasks = scheduled_tasks(&engine).await;
    assert_eq!(tasks.len(), fired.len());
    for f in &fired {
        let task = tasks
            .iter()
            .find(|t| t.task_uuid == f.task_uuid.to_string())
            .expect("the fired task exists");
        assert_eq!(
            task.idempotency_key.as_deref(),
            Some(schedule_idempotency_key("tick", f.fire_at).as_str())
        );
        assert_eq!(task.context.get(), r#"{"from":"schedule"}"#);
    }
    let listed = engine.list_schedules().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_fire_at, times.last().copied());
    assert!(listed[0].next_fire_at > listed[0].last_fire_at);
}

/// Two engines on PostgreSQL (two pools, as two processes have); one on in-memory SQLite.
async fn racing_firers_create_one_task_per_fire_time(db: TestDb) {
    let a = engine(&db, &[("single.yaml", SINGLE)]).await;
    let b = match db.backend {
        Backend::Postgres => engine(&db, &[("single.yaml", SINGLE)]).await,
        Backend::Sqlite => a.clone(),
    };
    // Both register the same schedule, as two workers with the same options do.
    for e in [&a, &b] {
        e.register_schedules(&[every_second("race", Missed::Latest)])
            .await
            .expect("register");
    }
    let until = Instant::now() + Duration::from_millis(3_200);
    let mut loops = Vec::new();
    for l in 0..4 {
        let engine: Arc<Engine> = if l % 2 == 0 { a.clone() } else { b.clone() };
        loops.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while Instant::now() < until {
                mine.extend(fire(&engine, &["race"]).await);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            mine
        }));
    }
    let mut fired: Vec<Fired> = Vec::new();
    for l in loops {
        fired.extend(l.await.expect("firing loop"));
    }
    fired.sort_by_key(|f| f.fire_at);
    let times: Vec<i64> = fired.iter().map(|f| f.fire_at).collect();
    let distinct: HashSet<i64> = times.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        times.len(),
        "a fire time fired twice: {times:?}"
    );
    assert!((3..=4).contains(&times.len()), "fired {times:?}");
    assert_consecutive(&times);
    let tasks = scheduled_tasks(&a).await;
    assert_eq!(tasks.len(), times.len(), "one task per fire time");
}

async fn missed_fire_times_follow_the_policy(db: TestDb) {
    let engine = engine(&db, &[("single.yaml", SINGLE)]).await;
    engine
        .register_schedules(&[
            every_second("latest", Missed::Latest),
            every_second("all", Missed::All),
            every_second("skip", Missed::Skip),
        ])
        .await
        .expect("register");
    // Nobody fires for three seconds: three or four fire times pass.
    tokio::time::sleep(Duration::from_millis(3_300)).await;
    let report = engine
        .fire_schedules(&strings(&["latest", "all", "skip"]))
        .await
        .expect("fire");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let of = |name: &str| -> Vec<i64> {
        report
            .fired
            .iter()
            .filter(|f| f.schedule == name)
            .map(|f| f.fire_at)
            .collect()
    };
    let all = of("all");
    assert!((3..=4).contains(&all.len()), "all: {all:?}");
    assert_consecutive(&all);
    // `latest` runs the latest one once, and skips the others.
    let latest = of("latest");
    assert_eq!(latest.len(), 1, "latest: {latest:?}");
    assert_eq!(latest.last(), all.last());
    let skipped = |name: &str| {
        report
            .skipped
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, n)| *n)
    };
    assert_eq!(skipped("latest"), Some(all.len() - 1));
    assert_eq!(skipped("skip"), Some(all.len() - 1));
    assert_eq!(skipped("all"), None);
    // `skip`: the latest fire time is less than a minute late, so it runs.
    assert_eq!(of("skip"), latest);

    // Handled: nothing more is due until the next second.
    let again = fire(&engine, &["latest", "all", "skip"]).await;
    assert!(
        again.iter().all(|f| f.fire_at > *all.last().unwrap()),
        "fired again: {again:?}"
    );
}

async fn registering_checks_the_template_and_keeps_the_fire_state(db: TestDb) {
    let engine = engine(&db, &[("single.yaml", SINGLE)]).await;
    let mut unknown = every_second("nightly", Missed::Latest);
    unknown.task_name = "nope".to_string();
    let e = engine
        .register_schedules(&[unknown])
        .await
        .expect_err("unknown template");
    assert_eq!(e.code(), ErrorCode::TemplateNotFound);
    assert_eq!(
        e.to_string(),
        "schedule 'nightly': task test/nope@1.0.0 is not a registered task template \
         (registered: test/single@1.0.0); add its template to the worker's templates, or fix \
         task.namespace, task.name or task.version"
    );

    let mut big = every_second("nightly", Missed::Latest);
    big.context = "[1]".to_string();
    let e = engine.register_schedules(&[big]).await.expect_err("array");
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert_eq!(
        e.to_string(),
        "schedule 'nightly': context must be a JSON object, got an array"
    );

    engine
        .register_schedules(&[every_second("nightly", Missed::Latest)])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let fired = fire(&engine, &["nightly"]).await;
    assert_eq!(fired.len(), 1);
    // A new definition (as a redeployed worker registers it) keeps the fire state.
    let mut daily = every_second("nightly", Missed::All);
    daily.cron = "0 3 * * *".to_string();
    daily.timezone = "Europe/Berlin".to_string();
    engine.register_schedules(&[daily]).await.unwrap();
    let listed = engine.list_schedules().await.unwrap();
    assert_eq!(listed.len(), 1);
    let s = &listed[0];
    assert_eq!(
        (s.cron.as_str(), s.timezone.as_str(), s.missed.as_str()),
        ("0 3 * * *", "Europe/Berlin", "all")
    );
    assert_eq!(s.last_fire_at, Some(fired[0].fire_at));
    let next = s.next_fire_at.expect("a next fire time");
    // 03:00 in Berlin is 02:00 UTC in winter, 01:00 UTC in summer.
    let hour_utc = next.rem_euclid(86_400_000) / 3_600_000;
    assert!(hour_utc == 1 || hour_utc == 2, "next fire at {next}");
}

async fn a_deleted_schedule_is_gone_and_fires_no_more(db: TestDb) {
    let engine = engine(&db, &[("single.yaml", SINGLE)]).await;
    engine
        .register_schedules(&[
            every_second("keep", Missed::Latest),
            every_second("drop", Missed::Latest),
        ])
        .await
        .unwrap();
    assert!(engine.delete_schedule("drop").await.unwrap());
    assert!(
        !engine.delete_schedule("drop").await.unwrap(),
        "deleted twice"
    );
    let names: Vec<String> = engine
        .list_schedules()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["keep"]);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // A firer that still names it (a worker started before the delete) finds nothing to fire.
    let fired = fire(&engine, &["keep", "drop"]).await;
    assert_eq!(
        fired
            .iter()
            .map(|f| f.schedule.as_str())
            .collect::<Vec<_>>(),
        ["keep"]
    );
}
