/** The handlers of every example workflow in examples/templates/, by workflow. */
export { apiHandlers } from './api';
export { approvalHandlers } from './approval';
export { csvHandlers } from './csv';
export { restockHandlers } from './restock';
export { shopHandlers } from './shop';

import { apiHandlers } from './api';
import { approvalHandlers } from './approval';
import { csvHandlers } from './csv';
import { restockHandlers } from './restock';
import { shopHandlers } from './shop';

/** Every example handler: a worker loading all of examples/templates/ needs them all. */
export const exampleHandlers = [
  ...shopHandlers,
  ...apiHandlers,
  ...approvalHandlers,
  ...csvHandlers,
  ...restockHandlers,
];
