import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

import { connectApi } from './api/hookscope-api.js';
import { App, NoConnection } from './components/app.js';
import { createAppStore } from './store/app-store.js';
import { StoreContext } from './store/store-context.js';
import './styles.css';

const root = createRoot(document.getElementById('root') as HTMLElement);
const api = connectApi();
if (api === null) {
  root.render(<NoConnection />);
} else {
  const store = createAppStore(api);
  root.render(
    <StrictMode>
      <StoreContext.Provider value={store}>
        <App />
      </StoreContext.Provider>
    </StrictMode>,
  );
}
