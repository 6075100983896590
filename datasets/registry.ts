import { ZoError } from '../framework/core/errors.js';
import { TINY_TASKS } from './tiny/index.js';
import { loadCustomTask } from '../framework/tasks/custom.js';
import { MEZO_TASKS } from './mezo-tasks.js';
import type { Task } from '../framework/tasks/task.js';

/** Every built-in task, in one explicit list: MeZO's 11, then the offline tiny suite. */
export const TASKS: readonly Task[] = [...MEZO_TASKS, ...TINY_TASKS];

export function taskNamed(name: string): Task {
  const t = TASKS.find((x) => x.name === name);
  if (!t) throw new ZoError(`unknown task "${name}" (known: ${TASKS.map((x) => x.name).join(', ')}; or pass --task-file FILE.yaml)`);
  return t;
}

/** A task by name, or from a custom task file. */
export function resolveTask(name?: string, file?: string): Task {
  if (file) return loadCustomTask(file);
  if (!name) throw new ZoError('name a task (--task NAME) or a task file (--task-file FILE.yaml)');
  return taskNamed(name);
}
