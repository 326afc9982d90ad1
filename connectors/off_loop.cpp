#include "connectors/off_loop.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>

namespace syncd::connectors {

namespace asio = boost::asio;

struct Worker::Pool {
    asio::thread_pool threads{1};
};

Worker::Worker() : pool_(std::make_unique<Pool>()) {}

Worker::~Worker() { pool_->threads.join(); }

asio::awaitable<void> Worker::run(std::function<void()> job) {
    const auto home = co_await asio::this_coro::executor;
    auto initiation = [this, home, &job](auto handler) {
        // Keeps the caller's io_context running while the job is away.
        auto tracked = asio::prefer(home, asio::execution::outstanding_work.tracked);
        asio::post(pool_->threads, [&job, handler = std::move(handler), tracked]() mutable {
            std::exception_ptr error;
            try {
                job();
            } catch (...) {
                error = std::current_exception();
            }
            auto executor = asio::get_associated_executor(handler, tracked);
            // The exception goes over whole: this thread keeps no reference to it, so it is
            // released where it is handled (a copy released here raced with that, TSan found).
            asio::post(executor, [handler = std::move(handler), error = std::move(error),
                                  tracked]() mutable { std::move(handler)(std::move(error)); });
        });
    };
    co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr)>(
        initiation, asio::use_awaitable);
}

asio::awaitable<void> Worker::run(asio::awaitable<void> task) {
    // co_spawn's completion resumes this coroutine through its own executor (the loop's).
    co_await asio::co_spawn(pool_->threads.get_executor(), std::move(task), asio::use_awaitable);
}

namespace {

class OffLoop final : public Connector {
public:
    explicit OffLoop(std::unique_ptr<Connector> inner) : inner_(std::move(inner)) {}
    ~OffLoop() override {
        worker_.reset();  // the call running, if any, ends first
        inner_.reset();
    }

    asio::awaitable<void> start() override { co_await worker_->run(inner_->start()); }
    asio::awaitable<void> deliver(ChangeBatch batch) override {
        co_await worker_->run(inner_->deliver(std::move(batch)));
    }
    asio::awaitable<void> apply_schema(ChangeBatch batch) override {
        co_await worker_->run(inner_->apply_schema(std::move(batch)));
    }
    asio::awaitable<std::vector<ExternalRow>> external_changes() override {
        std::vector<ExternalRow> rows;
        co_await worker_->run(collect(inner_->external_changes(), rows));
        co_return rows;
    }
    asio::awaitable<void> acknowledge(std::vector<ExternalRow> rows) override {
        co_await worker_->run(inner_->acknowledge(std::move(rows)));
    }
    asio::awaitable<std::vector<ExternalRow>> all_rows() override {
        std::vector<ExternalRow> rows;
        co_await worker_->run(collect(inner_->all_rows(), rows));
        co_return rows;
    }
    ChangeInbox* inbox() override { return inner_->inbox(); }
    bool wants_names() const override { return inner_->wants_names(); }
    asio::awaitable<void> assign_page_id(ExternalRow row, std::string page_id) override {
        co_await worker_->run(inner_->assign_page_id(std::move(row), std::move(page_id)));
    }

private:
    // Awaits `task` (on the worker) and keeps its result in `out`.
    static asio::awaitable<void> collect(asio::awaitable<std::vector<ExternalRow>> task,
                                         std::vector<ExternalRow>& out) {
        out = co_await std::move(task);
    }

    std::unique_ptr<Connector> inner_;
    std::unique_ptr<Worker> worker_ = std::make_unique<Worker>();
};

}  // namespace

std::unique_ptr<Connector> off_loop(std::unique_ptr<Connector> inner) {
    return std::make_unique<OffLoop>(std::move(inner));
}

}  // namespace syncd::connectors
