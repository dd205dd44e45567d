/**
 * PostgreSQL options: the schema that holds tasker's tables (`tasker` by default) and the pool
 * size, with the errors a bad value gets. What a PostgreSQL user sees of the schema: uuid ids,
 * json payloads that `->>` reads, timestamptz times, and a task's rows deleted with it.
 */
import { Client as PgClient } from 'pg';
import { InvalidArgumentError, createClient } from '../../src/index';
import { defineHandler, describeEachBackend, startWorker } from '../helpers/e2e';

const once = defineHandler('Idempotency.Once', (ctx) => ({ order: ctx.getInput('order') }));

async function query<T>(database: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new PgClient({ connectionString: database, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

describeEachBackend(
  'PostgreSQL options',
  (backend) => {
    it('keeps the tables in the schema given, and in "tasker" by default', async () => {
      const database = await backend.database();
      const worker = await startWorker({
        database,
        schema: 'orders_flow',
        templates: 'idempotency',
        handlers: [once],
      });
      const task = await worker.client.createTask({
        namespace: 'e2e',
        name: 'idempotency',
        context: { order: 7 },
      });
      expect((await worker.client.waitForTask(task.taskUuid)).state).toBe('complete');

      const tables = await query<{ table_schema: string; table_name: string }>(
        database,
        `SELECT table_schema, table_name FROM information_schema.tables
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`,
      );
      expect(tables.map((t) => `${t.table_schema}.${t.table_name}`)).toEqual([
        'orders_flow._sqlx_migrations',
        'orders_flow.limits',
        'orders_flow.schedules',
        'orders_flow.signals',
        'orders_flow.step_edges',
        'orders_flow.steps',
        'orders_flow.task_tags',
        'orders_flow.tasks',
        'orders_flow.template_snapshots',
        'orders_flow.templates',
        'orders_flow.transitions',
      ]);
      // What a PostgreSQL user expects: uuid ids, json that ->> reads, timestamptz times.
      const [row] = await query<{ id: string; kind: string; order: string; created: Date }>(
        database,
        `SELECT task_uuid::text AS id, pg_typeof(task_uuid)::text AS kind,
                context->>'order' AS order, created_at AS created
         FROM orders_flow.tasks`,
      );
      expect(row).toMatchObject({ id: task.taskUuid, kind: 'uuid', order: '7' });
      expect(row.created).toBeInstanceOf(Date);
      // Deleting a task deletes its steps and transitions with it.
      await query(database, 'DELETE FROM orders_flow.tasks WHERE task_uuid = $1', [task.taskUuid]);
      const [left] = await query<{ steps: string; transitions: string }>(
        database,
        `SELECT (SELECT count(*) FROM orders_flow.steps) AS steps,
                (SELECT count(*) FROM orders_flow.transitions) AS transitions`,
      );
      expect(left).toEqual({ steps: '0', transitions: '0' });

      // Another schema in the same database is another, empty, tasker.
      const other = await createClient({ database, schema: 'tasker' });
      try {
        expect(await other.listTasks()).toEqual([]);
      } finally {
        await other.close();
      }
    });

    it('refuses a schema name or pool size it cannot use, saying what it may be', async () => {
      const database = await backend.database();
      for (const schema of ['Orders', 'pg_x', '1st', 'a-b', '']) {
        await expect(createClient({ database, schema })).rejects.toThrow(
          new InvalidArgumentError(
            `'${schema}' cannot be the tasker schema: use 1 to 50 lower-case letters, digits and ` +
              'underscores, not starting with a digit or pg_ (the default is tasker)',
          ),
        );
      }
      await expect(createClient({ database, schema: 5 as never })).rejects.toThrow(
        new InvalidArgumentError('schema must be a string, got 5'),
      );
      for (const poolSize of [0, 2.5]) {
        await expect(createClient({ database, poolSize })).rejects.toThrow(
          new InvalidArgumentError(`poolSize must be an integer >= 1, got ${poolSize}`),
        );
      }
      await expect(createClient({ database, poolSize: 1001 })).rejects.toThrow(
        new InvalidArgumentError('poolSize must be at most 1000, got 1001'),
      );
      // A pool of one connection works (claims, results and reads share it).
      const worker = await startWorker({
        database,
        poolSize: 1,
        templates: 'idempotency',
        handlers: [once],
      });
      const tasks = await worker.client.createTasks(
        [1, 2, 3].map((order) => ({ namespace: 'e2e', name: 'idempotency', context: { order } })),
      );
      for (const t of tasks) {
        expect((await worker.client.waitForTask(t.taskUuid)).state).toBe('complete');
      }
    });
  },
  { only: ['postgres'] },
);
