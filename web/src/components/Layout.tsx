import { NavLink, Outlet } from "react-router";
import { useAuth } from "../auth/useAuth";
import { Button } from "./ui";

function Logo() {
  return (
    <svg viewBox="0 0 32 32" className="h-7 w-7" aria-hidden="true">
      <rect width="32" height="32" rx="8" fill="#4f46e5" />
      <path d="M9 17l5-9v7h5l-5 9v-7z" fill="white" />
    </svg>
  );
}

const navClass = ({ isActive }: { isActive: boolean }) =>
  `rounded-md px-3 py-2 text-sm font-medium ${
    isActive
      ? "bg-slate-100 text-slate-900"
      : "text-slate-600 hover:bg-slate-50 hover:text-slate-900"
  }`;

export function Layout() {
  const { session, signOut } = useAuth();
  return (
    <div className="min-h-screen">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2 focus:shadow"
      >
        Skip to content
      </a>
      <header className="border-b border-slate-200 bg-white">
        <div className="mx-auto flex max-w-6xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-3 sm:px-6">
          <NavLink to="/functions" className="flex items-center gap-2 font-semibold text-slate-900">
            <Logo />
            <span>EventFlow</span>
          </NavLink>
          <nav aria-label="Main" className="order-3 flex w-full gap-1 sm:order-none sm:w-auto">
            <NavLink to="/functions" className={navClass}>
              Functions
            </NavLink>
            <NavLink to="/tenant" className={navClass}>
              Tenant
            </NavLink>
          </nav>
          <div className="ml-auto flex items-center gap-3">
            {session && (
              <span className="text-sm text-slate-600">
                <span className="sr-only">Signed in as </span>
                <span className="font-medium text-slate-900" data-testid="current-tenant">
                  {session.tenant}
                </span>
              </span>
            )}
            <Button variant="ghost" onClick={() => signOut()}>
              Sign out
            </Button>
          </div>
        </div>
      </header>
      <main id="main" className="mx-auto max-w-6xl px-4 py-6 sm:px-6 sm:py-8">
        <Outlet />
      </main>
    </div>
  );
}
